// Connecting Zendesk, Gorgias and Twilio (`frontdesk.integrations.connect`, also used by the handoff settings page),
// and the Integrations page: connect, the reply secret of a reply path set up by hand, failed deliveries and their
// retry, disconnect with a confirm step. Loaded after console.js.
(() => {
  "use strict";
  const { api, flash } = window.frontdesk;
  const TITLES = { zendesk: "Zendesk", gorgias: "Gorgias", twilio: "Twilio" };
  const AFTER_RELOAD = "frontdesk.console.flash";

  /** Check the credentials with the service and save them; what failed comes back as the error's message. */
  async function connect(kind, fields) {
    return api("POST", `/api/integrations/${kind}`, fields);
  }

  function filled(form) {
    const fields = {};
    form.querySelectorAll("input[name]").forEach((input) => {
      if (input.value.trim()) fields[input.name] = input.value.trim();
    });
    return fields;
  }

  // The page is drawn by the server: after a change, draw it again and say what happened.
  function reloadSaying(text) {
    sessionStorage.setItem(AFTER_RELOAD, text);
    window.location.reload();
  }

  function integrationsPage(root) {
    const said = sessionStorage.getItem(AFTER_RELOAD);
    if (said) {
      sessionStorage.removeItem(AFTER_RELOAD);
      flash(said, "ok");
    }

    root.querySelectorAll("[data-connect-form]").forEach((form) => {
      const kind = form.dataset.connectForm;
      const result = form.querySelector('[data-field="result"]');
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        result.dataset.kind = "info";
        result.textContent = `Checking with ${TITLES[kind]}…`;
        try {
          await connect(kind, filled(form));
          reloadSaying(`${TITLES[kind]} is connected.`);
        } catch (error) {
          result.dataset.kind = "error";
          result.textContent = `Not connected: ${error.message}`;
          flash(`${TITLES[kind]} not connected: ${error.message}`, "error");
          button.disabled = false;
        }
      });
    });

    root.querySelectorAll("[data-reply-secret-form]").forEach((form) => {
      const kind = form.dataset.replySecretForm;
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api("PUT", `/api/integrations/${kind}/reply-secret`, { secret: form.elements.secret.value });
          reloadSaying(`${TITLES[kind]}'s reply secret is saved: agents' replies are accepted from now on.`);
        } catch (error) {
          flash(`Reply secret not saved: ${error.message}`, "error");
        }
      });
    });

    root.querySelectorAll("[data-retry]").forEach((button) => {
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const item = await api("POST", `/api/outbox/${button.dataset.retry}/retry`);
          const row = button.closest("tr");
          row.querySelector('[data-field="status"]').textContent = item.status === "pending" ? "Queued again" : item.status;
          row.dataset.status = item.status;
          button.remove();
          flash("Queued again: it is sent now, and retried if it fails.", "ok");
        } catch (error) {
          button.disabled = false;
          flash(`Not retried: ${error.message}`, "error");
        }
      });
    });

    root.querySelectorAll("[data-disconnect]").forEach((button) => {
      const kind = button.dataset.disconnect;
      const card = button.closest("[data-integration]");
      const confirmBox = card.querySelector("[data-confirm]");
      const refusal = card.querySelector('[data-field="refusal"]');
      button.addEventListener("click", () => {
        refusal.textContent = "";
        confirmBox.hidden = false;
        confirmBox.querySelector("[data-confirm-yes]").focus();
      });
      confirmBox.querySelector("[data-confirm-no]").addEventListener("click", () => {
        confirmBox.hidden = true;
        button.focus();
      });
      confirmBox.querySelector("[data-confirm-yes]").addEventListener("click", async () => {
        confirmBox.hidden = true;
        try {
          await api("DELETE", `/api/integrations/${kind}`);
          reloadSaying(`${TITLES[kind]} is disconnected.`);
        } catch (error) {
          refusal.textContent = `Not disconnected: ${error.message}`;
          flash(`${TITLES[kind]} not disconnected: ${error.message}`, "error");
          button.focus();
        }
      });
    });
  }

  window.frontdesk.integrations = { connect };
  const root = document.getElementById("integrations");
  if (root) integrationsPage(root);
})();
