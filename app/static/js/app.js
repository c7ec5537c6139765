// Small helps on the forms; every one of them is checked again by the server, and the pages work without them.
(() => {
  // A receipt's Print button (hidden without JavaScript).
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }

  // Prices typed in euros: a live preview of what the machine will charge, and whether it can (5-cent steps).
  const EURO = /^\s*€?\s*([0-9]{1,6})(?:[.,]([0-9]{1,2}))?\s*$/;
  const euros = (cents) => `€${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
  for (const input of document.querySelectorAll("[data-euro-input]")) {
    const preview = document.getElementById(input.dataset.euroInput);
    const show = () => {
      const match = EURO.exec(input.value);
      if (!input.value.trim()) {
        preview.textContent = "";
      } else if (!match) {
        preview.textContent = "Type the price in euros, e.g. 0.35";
      } else {
        const cents = Number(match[1]) * 100 + Number((match[2] || "0").padEnd(2, "0"));
        preview.textContent = cents % 5 || cents === 0
          ? `${euros(cents)} is not a multiple of 5 cents: try ${euros(Math.max(5, cents - (cents % 5)))} or ${euros(cents - (cents % 5) + 5)}`
          : `Buyers pay ${euros(cents)}`;
      }
    };
    input.addEventListener("input", show);
    show();
  }

  // A picture over the size limit is refused before it is sent (the server refuses it too).
  for (const input of document.querySelectorAll("input[type=file][data-max-bytes]")) {
    const limit = Number(input.dataset.maxBytes);
    let feedback = input.parentElement.querySelector(".invalid-feedback");
    if (!feedback) {
      feedback = document.createElement("div");
      feedback.className = "invalid-feedback";
      input.insertAdjacentElement("afterend", feedback);
    }
    feedback.id ||= `${input.id}-error`;
    const check = () => {
      const file = input.files && input.files[0];
      const tooLarge = Boolean(file && file.size > limit);
      input.classList.toggle("is-invalid", tooLarge);
      if (tooLarge) {
        feedback.textContent = input.dataset.tooLarge;
        input.setAttribute("aria-describedby", feedback.id);
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
      return !tooLarge;
    };
    input.addEventListener("change", check);
    if (input.files && input.files.length) check(); // chosen before this script ran
    input.form.addEventListener("submit", (event) => {
      if (!check()) {
        event.preventDefault();
        input.focus();
      }
    });
  }
})();
