// The console's settings pages: Handoff (the method, connecting a helpdesk inline, the custom message and its live
// preview, the consent texts, office hours and holidays) and Widget (name, greeting, colour, the identity secret,
// the snippets). Loaded after console.js (and, on the handoff page, console-integrations.js).
(() => {
  "use strict";
  const { api, flash, el } = window.frontdesk;

  // ---- The custom message as the widget shows it: renderRich from /static/rich-text.js, the widget's own code ----
  function showRich(text, parent) {
    parent.replaceChildren();
    window.renderRich(text, parent);
  }

  const TITLES = { builtin: "the built-in inbox", zendesk: "Zendesk", gorgias: "Gorgias" };
  const HELPDESKS = ["zendesk", "gorgias"];

  // ---- Settings → Handoff --------------------------------------------------------------------------------------
  function handoffPage(form) {
    const state = JSON.parse(document.getElementById("handoff-state").textContent);
    const save = document.getElementById("save");
    const saveHint = document.getElementById("save-hint");
    const messageSection = document.getElementById("custom-message-section");
    const message = document.getElementById("custom_message");
    const preview = document.getElementById("custom-preview");

    const chosen = () => (form.querySelector('input[name="method"]:checked') || {}).value || "builtin";
    const connected = (kind) => (state.integrations[kind] || {}).status === "connected";
    const title = (kind) => TITLES[kind] || kind;

    function showConnection(kind) {
      const box = form.querySelector(`[data-connection="${kind}"]`);
      const integration = state.integrations[kind] || {};
      const isConnected = connected(kind);
      box.hidden = chosen() !== kind;
      box.querySelector('[data-when="connected"]').hidden = !isConnected;
      box.querySelector('[data-when="not-connected"]').hidden = isConnected;
      form.querySelector(`[data-badge="${kind}"]`).textContent = isConnected ? "connected" : "not connected";
      form.querySelector(`[data-badge="${kind}"]`).dataset.state = isConnected ? "ok" : "off";
      if (!isConnected) return;
      const account = integration.account;
      box.querySelector('[data-field="address"]').textContent = integration.address || "";
      box.querySelector('[data-field="email"]').textContent = integration.email || "";
      box.querySelector('[data-field="account"]').textContent = account && account.name ? ` (${account.name})` : "";
      const reply = integration.reply_path || {};
      const automatic = !!reply.automatic;
      box.querySelector('[data-when="reply-automatic"]').hidden = !automatic;
      box.querySelector('[data-when="reply-manual"]').hidden = automatic || !!reply.ready;
      box.querySelector('[data-field="reply_error"]').textContent = reply.error ? `(${title(kind)}: ${reply.error})` : "";
    }

    function refresh() {
      const method = chosen();
      HELPDESKS.forEach(showConnection);
      messageSection.hidden = method !== "none";
      const blocked = HELPDESKS.includes(method) && !connected(method);
      save.disabled = blocked;
      saveHint.textContent = blocked
        ? `Connect ${title(method)} above (Test connection) before saving it as the handoff method.`
        : "";
    }

    async function testConnection(kind) {
      const box = form.querySelector(`[data-connection="${kind}"]`);
      const result = box.querySelector('[data-field="result"]');
      const fields = {};
      box.querySelectorAll("input[name]").forEach((input) => {
        if (input.value.trim()) fields[input.name] = input.value.trim();
      });
      result.dataset.kind = "info";
      result.textContent = `Checking with ${title(kind)}…`;
      try {
        state.integrations[kind] = await window.frontdesk.integrations.connect(kind, fields);
      } catch (error) {
        result.dataset.kind = "error";
        result.textContent = `Not connected: ${error.message}`;
        flash(`Test connection failed: ${error.message}`, "error");
        return;
      }
      result.textContent = "";
      box.querySelectorAll('input[type="password"]').forEach((input) => { input.value = ""; });
      refresh();
      flash(`${title(kind)} is connected. Save to send handoffs to it.`, "ok");
      save.focus();
    }

    form.querySelectorAll("[data-test-connection]").forEach((button) => {
      button.addEventListener("click", () => testConnection(button.dataset.testConnection));
    });
    // Enter in a connection field tests the connection; it must not save the page's settings.
    form.querySelectorAll(".connect-fields input").forEach((input) => {
      input.addEventListener("keydown", (event) => {
        if (event.key !== "Enter") return;
        event.preventDefault();
        testConnection(input.closest("[data-connection]").dataset.connection);
      });
    });
    form.querySelectorAll('input[name="method"]').forEach((radio) => radio.addEventListener("change", refresh));

    // The live preview: the server's sanitising, then the widget's rendering. Answers out of order are dropped.
    let asked = 0;
    let timer = null;
    async function updatePreview() {
      const mine = ++asked;
      try {
        const answer = await api("POST", "/api/settings/handoff/preview", { custom_message: message.value });
        if (mine === asked) showRich(answer.custom_message, preview);
      } catch (error) {
        if (mine === asked) flash(`Preview: ${error.message}`, "error");
      }
    }
    message.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(updatePreview, 200);
    });

    // Office hours: one list of spans per weekday.
    function span(dayName, opens = "09:00", closes = "17:00") {
      const remove = el("button", {
        type: "button", className: "button button-quiet", "data-remove-span": true,
        "aria-label": `Remove these ${dayName} hours`, text: "Remove",
      });
      return el("li", { className: "span" },
        el("label", {}, "Opens ", el("input", { type: "time", "data-opens": true, value: opens, "aria-label": `${dayName} opens` })),
        el("label", {}, " Closes ", el("input", { type: "time", "data-closes": true, value: closes, "aria-label": `${dayName} closes` })),
        remove);
    }
    form.addEventListener("click", (event) => {
      const add = event.target.closest("[data-add-span]");
      if (add) {
        const item = span(add.dataset.dayName);
        form.querySelector(`[data-spans="${add.dataset.addSpan}"]`).append(item);
        item.querySelector("input").focus();
        return;
      }
      const remove = event.target.closest("[data-remove-span]");
      if (remove) {
        const row = remove.closest("tr");
        remove.closest("li").remove();
        row.querySelector("[data-add-span]").focus();
        return;
      }
      const removeHoliday = event.target.closest("[data-remove-holiday]");
      if (removeHoliday) {
        removeHoliday.closest("li").remove();
        document.getElementById("holiday-new").focus();
      }
    });

    const holidays = document.getElementById("holidays");
    function addHoliday() {
      const input = document.getElementById("holiday-new");
      const day = input.value;
      if (!day) {
        flash("Holidays: choose a date first.", "error");
        input.focus();
        return;
      }
      if (holidays.querySelector(`[data-holiday="${day}"]`)) {
        flash(`Holidays: ${day} is already in the list.`, "info");
        return;
      }
      const item = el("li", { "data-holiday": day }, el("span", { text: day }), " ",
        el("button", {
          type: "button", className: "button button-quiet", "data-remove-holiday": true,
          "aria-label": `Remove holiday ${day}`, text: "Remove",
        }));
      const later = [...holidays.children].find((li) => li.dataset.holiday > day);
      holidays.insertBefore(item, later || null);
      input.value = "";
    }
    document.getElementById("holiday-add").addEventListener("click", addHoliday);
    document.getElementById("holiday-new").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        addHoliday();
      }
    });

    function officeHours() {
      const hours = {};
      form.querySelectorAll("[data-spans]").forEach((list) => {
        const spans = [...list.querySelectorAll(".span")].map((item) => {
          const closes = item.querySelector("[data-closes]");
          // A time input cannot hold 24:00: a day saved as open until midnight shows 23:59 and keeps its 24:00.
          const midnight = closes.hasAttribute("data-midnight") && closes.value === "23:59";
          return [item.querySelector("[data-opens]").value, midnight ? "24:00" : closes.value];
        });
        if (spans.length) hours[list.dataset.spans] = spans;
      });
      return hours;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (save.disabled) return;
      const value = (name) => form.elements[name].value;
      const change = {
        method: chosen(),
        custom_message: value("custom_message"),
        offer_text: value("offer_text"),
        yes_text: value("yes_text"),
        no_text: value("no_text"),
        email_prompt: value("email_prompt"),
        auto_response: value("auto_response"),
        office_hours_message: value("office_hours_message"),
        timezone: value("timezone"),
        office_hours: officeHours(),
        holidays: [...holidays.children].map((li) => li.dataset.holiday),
      };
      save.disabled = true;
      flash("Saving…");
      try {
        const saved = await api("PUT", "/api/settings/handoff", change);
        state.method = saved.method;
        message.value = saved.custom_message;
        showRich(saved.custom_message, preview);
        flash(saved.method === "none"
          ? "Saved. From now on, nothing is handed off: shoppers see your support message."
          : `Saved. From now on, handoffs go to ${title(saved.method)}.`, "ok");
      } catch (error) {
        flash(`Not saved: ${error.message}`, "error");
      } finally {
        refresh();
      }
    });

    refresh();
    updatePreview();
  }

  // ---- Settings → Widget ---------------------------------------------------------------------------------------
  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      flash(`${what} copied.`, "ok");
    } catch (error) {
      flash(`Copying is blocked here: select the ${what.toLowerCase()} and copy it yourself.`, "error");
    }
  }

  function widgetPage(form) {
    const colour = document.getElementById("colour");
    const colourValue = document.getElementById("colour-value");
    colour.addEventListener("input", () => { colourValue.textContent = colour.value; });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const change = {
        store_name: form.elements.store_name.value,
        greeting: form.elements.greeting.value,
        colour: colour.value,
      };
      if (form.elements.store_url.value.trim()) change.store_url = form.elements.store_url.value.trim();
      try {
        await api("PUT", "/api/settings/widget", change);
        flash("Saved. The widget shows them from the next page a shopper opens.", "ok");
      } catch (error) {
        flash(`Not saved: ${error.message}`, "error");
      }
    });

    const rotate = document.getElementById("rotate");
    const confirmBox = document.getElementById("rotate-confirm");
    const once = document.getElementById("secret-once");
    const status = document.getElementById("identity-status");
    rotate.addEventListener("click", () => {
      if (rotate.dataset.hasSecret === "true") {
        confirmBox.hidden = false;
        document.getElementById("rotate-now").focus();
      } else {
        rotateSecret();
      }
    });
    document.getElementById("rotate-cancel").addEventListener("click", () => {
      confirmBox.hidden = true;
      rotate.focus();
    });
    document.getElementById("rotate-now").addEventListener("click", rotateSecret);

    async function rotateSecret() {
      confirmBox.hidden = true;
      try {
        const answer = await api("POST", "/api/settings/widget/identity-secret");
        const secret = document.getElementById("identity-secret");
        secret.value = answer.identity_secret;
        once.hidden = false;
        rotate.dataset.hasSecret = "true";
        rotate.textContent = "Rotate secret";
        status.textContent = "On: shoppers signed in by your store's server are recognised.";
        flash("New secret created. Copy it now: it is not shown again.", "ok");
        secret.focus();
        secret.select();
      } catch (error) {
        flash(`Not rotated: ${error.message}`, "error");
      }
    }

    document.querySelectorAll("[data-copy]").forEach((button) => {
      button.addEventListener("click", () => {
        const source = document.getElementById(button.dataset.copy);
        copy("value" in source && source.tagName === "INPUT" ? source.value : source.textContent, button.dataset.what);
      });
    });
  }

  const handoffForm = document.getElementById("handoff-form");
  if (handoffForm) handoffPage(handoffForm);
  const widgetForm = document.getElementById("widget-form");
  if (widgetForm) widgetPage(widgetForm);
})();
