// Knowledge gaps: add a gap's question to an existing FAQ as another way to ask it (the FAQ the playground ranks
// closest is chosen first), instead of writing a duplicate entry.
(() => {
  "use strict";
  const { api, flash } = window.frontdesk;

  for (const form of document.querySelectorAll("form[data-phrasing]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const select = form.elements.entry;
      const title = select.options[select.selectedIndex].text;
      const result = form.querySelector('[data-field="result"]');
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await api("POST", `/api/knowledge/${encodeURIComponent(select.value)}/phrasings`, { text: form.dataset.phrasing });
        result.textContent = `Added to “${title}”.`;
        flash(`“${form.dataset.phrasing}” is now a phrasing of “${title}”: the agent answers it from now on.`);
      } catch (error) {
        result.textContent = "";
        flash(`Not added: ${error.message}`, "error");
        button.disabled = false;
      }
    });
  }
})();
