// The seller's sales charts (Chart.js, served from static/vendor): net sales (or refunds) per day or month and
// per product, from the JSON in each canvas's data-chart. The same numbers are in the tables next to the charts,
// which also serve as the charts' text for screen readers and for pages without JavaScript. Colours follow the
// colour mode.
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
      const perDay = canvas.dataset.kind === "periods";
      const period = (first) => (data.span === "day" ? first.slice(5) : first.slice(0, 7));
      charts.push(new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: perDay ? data.periods.map(period) : data.products,
          datasets: [{
            label: data.figure === "refunds" ? "Refunds (€)" : "Net sales (€)",
            data: perDay ? data.values : data.productValues,
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
