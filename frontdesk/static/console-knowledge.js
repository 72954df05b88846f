// The knowledge pages: the entry form (kind chooser, save, delete with a confirm step) and the file import (upload
// progress, then "importing and indexing", then the report of skipped rows). Text from entries and files is only ever
// set as text.
(() => {
  "use strict";
  const { api, flash, el, csrf } = window.frontdesk;
  const PENDING_FLASH = "frontdesk.knowledge.flash";

  // A message for the next page, when saving or deleting moves the admin elsewhere.
  function flashNextPage(text, kind) {
    sessionStorage.setItem(PENDING_FLASH, JSON.stringify({ text, kind }));
  }

  function showPendingFlash() {
    const pending = sessionStorage.getItem(PENDING_FLASH);
    if (!pending) return;
    sessionStorage.removeItem(PENDING_FLASH);
    const { text, kind } = JSON.parse(pending);
    flash(text, kind);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The entry form

  function setupEntryForm(form) {
    const entryId = form.dataset.entryId;
    let kind = form.dataset.kind;
    const field = (name) => form.elements.namedItem(name);

    function applyKind(next) {
      kind = next;
      form.dataset.kind = kind;
      for (const box of form.querySelectorAll("[data-kinds]")) {
        const shown = box.dataset.kinds.split(" ").includes(kind);
        box.hidden = !shown;
        for (const input of box.querySelectorAll("input, textarea, select")) input.disabled = !shown;
      }
      for (const label of form.querySelectorAll("label[data-label-" + kind + "]")) {
        label.textContent = label.dataset["label" + kind[0].toUpperCase() + kind.slice(1)];
      }
      field("body").required = kind === "faq";
    }

    for (const radio of form.querySelectorAll('input[name="kind"]')) {
      radio.addEventListener("change", () => applyKind(radio.value));
    }
    applyKind(kind);

    function payload() {
      const text = (name) => field(name).value.trim();
      const body = { title: text("title"), body: text("body"), url: text("url") || null };
      if (kind === "faq") {
        body.alternates = field("alternates").value.split("\n").map((line) => line.trim()).filter(Boolean);
      }
      if (kind === "product") {
        body.price = text("price") || null;
        body.availability = field("availability").value || null;
      }
      return body;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      flash("Saving…");
      try {
        if (entryId) {
          const saved = await api("PATCH", "/api/knowledge/" + entryId, payload());
          const updated = document.getElementById("entry-updated");
          if (updated) {
            updated.dateTime = saved.updated_at;
            updated.textContent = saved.updated_at.slice(0, 16).replace("T", " ") + " UTC";
          }
          flash("Saved", "ok");
        } else {
          const saved = await api("POST", "/api/knowledge", { kind, ...payload() });
          flashNextPage("Saved", "ok");
          window.location.assign("/console/knowledge/" + saved.id);
        }
      } catch (error) {
        flash("Not saved: " + error.message, "error");
      } finally {
        button.disabled = false;
      }
    });

    const start = document.getElementById("delete-start");
    if (!start) return;
    const confirm = document.getElementById("delete-confirm");
    const close = () => {
      confirm.hidden = true;
      start.setAttribute("aria-expanded", "false");
      start.focus();
    };
    start.addEventListener("click", () => {
      confirm.hidden = false;
      start.setAttribute("aria-expanded", "true");
      document.getElementById("delete-no").focus();
    });
    document.getElementById("delete-no").addEventListener("click", close);
    confirm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    const yes = document.getElementById("delete-yes");
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await api("DELETE", "/api/knowledge/" + entryId);
        flashNextPage("Deleted “" + field("title").defaultValue + "”", "ok");
        window.location.assign("/console/knowledge");
      } catch (error) {
        flash("Not deleted: " + error.message, "error");
        yes.disabled = false;
      }
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Import

  function setupImport(form) {
    const input = document.getElementById("import-file");
    const button = document.getElementById("import-button");
    const progress = document.getElementById("import-progress");
    const bar = document.getElementById("import-bar");
    const state = document.getElementById("import-state");
    const report = document.getElementById("import-report");
    const maxBytes = Number(form.dataset.maxBytes);

    function indexing() {
      bar.removeAttribute("value"); // indeterminate: the server reads, stores and indexes the rows
      state.textContent = "Importing and indexing…";
    }

    function upload(file) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/knowledge/import?filename=" + encodeURIComponent(file.name));
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        xhr.responseType = "json";
        xhr.upload.addEventListener("progress", (event) => {
          if (!event.lengthComputable) return;
          const percent = Math.round((event.loaded / event.total) * 100);
          if (percent >= 100) return indexing();
          bar.value = percent;
          state.textContent = "Uploading " + file.name + "… " + percent + "%";
        });
        xhr.upload.addEventListener("load", indexing);
        xhr.addEventListener("load", () => {
          if (xhr.status === 401) {
            window.location.href = "/signin?next=" + encodeURIComponent(window.location.pathname);
            return reject(new Error("You are signed out."));
          }
          if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
          const detail = xhr.response && xhr.response.detail;
          reject(new Error(typeof detail === "string" ? detail : "the import failed (" + xhr.status + ")"));
        });
        xhr.addEventListener("error", () => reject(new Error("the upload was interrupted; check the connection")));
        xhr.send(file);
      });
    }

    function showReport(file, result) {
      const heading = el("h3", { text: "Report for " + file.name });
      const summary = el("p", {
        className: "import-summary",
        text: "Imported " + result.imported + (result.imported === 1 ? " entry" : " entries") + ", skipped "
          + result.skipped + (result.skipped === 1 ? " row." : " rows."),
      });
      report.replaceChildren(heading, summary);
      if (result.problems.length) {
        const rows = result.problems.map((problem) => el("tr", {},
          el("td", { text: problem.file }),
          el("td", { text: problem.line === null ? "—" : String(problem.line) }),
          el("td", { text: problem.reason })));
        report.append(el("div", { className: "table-scroll" },
          el("table", { className: "data", "aria-label": "Skipped rows" },
            el("thead", {}, el("tr", {},
              el("th", { scope: "col", text: "File" }),
              el("th", { scope: "col", text: "Line" }),
              el("th", { scope: "col", text: "Reason" }))),
            el("tbody", {}, ...rows))));
      }
      report.append(el("p", {}, el("a", { href: "/console/knowledge", text: "See the entries" })));
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = input.files[0];
      if (!file) return;
      if (file.size > maxBytes) {
        flash(file.name + " is larger than " + Math.round(maxBytes / 1024 / 1024) + " MB; split it into smaller files.", "error");
        return;
      }
      button.disabled = true;
      report.hidden = true;
      progress.hidden = false;
      bar.value = 0;
      state.textContent = "Uploading " + file.name + "… 0%";
      flash("Importing " + file.name + "…");
      try {
        const result = await upload(file);
        showReport(file, result);
        flash("Imported " + file.name, result.skipped ? "info" : "ok");
      } catch (error) {
        report.replaceChildren(
          el("h3", { text: "Nothing was imported from " + file.name }),
          el("p", { className: "alert", text: error.message }),
          el("p", { className: "hint", text: "The knowledge is unchanged. Fix the file and import it again." }));
        flash("Nothing imported: " + error.message, "error");
      } finally {
        progress.hidden = true;
        report.hidden = false;
        report.focus();
        button.disabled = false;
      }
    });
  }

  showPendingFlash();
  const entryForm = document.getElementById("entry-form");
  if (entryForm) setupEntryForm(entryForm);
  const importForm = document.getElementById("import-form");
  if (importForm) setupImport(importForm);
})();
