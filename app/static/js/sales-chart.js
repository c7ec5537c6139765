// The seller's sales charts (Chart.js, served from static/vendor): revenue per day and per product, from the
// JSON in each canvas's data-chart. The same numbers are in the tables next to the charts, which also serve
// as the charts' text for screen readers and for pages without JavaScript. Colours follow the colour mode.
(() => {
  if (!window.Chart) return;
  const charts = [];
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const money = (value) => `€${Number(value).toFixed(2)}`;

  const draw = () => {
    for (const chart of charts.splice(0)) chart.destroy();
    const text = css("--bs-body-color");
    const grid = css("--bs-border-color-translucent");
    const bars = css("--bs-primary");
    for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
      const data = JSON.parse(canvas.dataset.chart);
      const perDay = canvas.dataset.kind === "days";
      charts.push(new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: perDay ? data.days.map((day) => day.slice(5)) : data.products,
          datasets: [{
            label: "Revenue (€)",
            data: perDay ? data.revenue : data.productRevenue,
            backgroundColor: bars,
            borderRadius: 3,
          }],
        },
        options: {
          indexAxis: perDay ? "x" : "y",
          maintainAspectRatio: false,
          animation: false,
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (item) => money(item.raw) } },
          },
          scales: {
            x: { ticks: { color: text, ...(perDay ? {} : { callback: money }) }, grid: { color: grid } },
            y: { ticks: { color: text, ...(perDay ? { callback: money } : {}) }, grid: { color: grid }, beginAtZero: true },
          },
        },
      }));
    }
  };
  draw();
  document.addEventListener("vending:theme", draw);
})();
