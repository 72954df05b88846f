// What every console page shares: `frontdesk.api` (JSON with the CSRF token, errors as readable messages),
// `frontdesk.flash` (the page's status line, read out by screen readers) and `frontdesk.el` (build DOM with text,
// never HTML). Page scripts load after this file.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function describe(detail, status) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      // FastAPI's validation errors: say which field and why.
      return detail.map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        return (where ? where + ": " : "") + item.msg;
      }).join("; ");
    }
    return "the request failed (" + status + ")";
  }

  async function api(method, path, body, options = {}) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf }, ...options };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      window.location.href = "/signin?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      throw new Error("You are signed out.");
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new Error(describe(data && data.detail, response.status));
    return data;
  }

  function flash(text, kind = "info") {
    const node = document.getElementById("flash");
    node.textContent = text;
    node.dataset.kind = kind;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  window.frontdesk = { api, flash, el, csrf };
})();
