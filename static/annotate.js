// Keyboard-first annotation: a key clicks the button (or radio) that carries it in data-key.
// Time taken is measured from when the item was shown to when the answer is submitted.
// A form marked data-resend (judge, skip) is sent again, with the same client token, when the
// network fails or the server answers 5xx: with backoff, until it gets an answer.
(function () {
  let shownAt = Date.now();
  let resendTimer = null;
  let undoTimer = null;
  const RESEND_DELAYS_MS = [300, 1000, 2000, 4000, 8000];

  function flash(text) {
    const el = document.getElementById("flash");
    if (el) el.textContent = text;
  }

  function armUndo() {
    // the server refuses an undo after its window; the button goes away when the window closes
    clearTimeout(undoTimer);
    const form = document.getElementById("undo-form");
    if (!form) return;
    const seconds = Number(form.dataset.undoSeconds || "10");
    undoTimer = setTimeout(() => form.remove(), seconds * 1000 - 500);
  }

  document.addEventListener("DOMContentLoaded", armUndo);
  document.addEventListener("htmx:afterSwap", () => { shownAt = Date.now(); armUndo(); });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest && event.target.closest(
      "textarea, select, input:not([type=radio]):not([type=checkbox]):not([type=hidden])");
    if (typing) return;
    if (resendTimer !== null) return; // an answer is being resent: one at a time
    const workspace = document.getElementById("workspace");
    if (!workspace) return;
    const control = workspace.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
    if (control && !control.disabled) {
      event.preventDefault();
      control.click();
    }
  });

  document.addEventListener("submit", (event) => {
    const ms = event.target.querySelector("input[name=ms]");
    if (ms) ms.value = String(Date.now() - shownAt);
  }, true);

  function resend(detail, attempt) {
    const config = detail.requestConfig;
    const elt = detail.elt;
    if (!config || !elt || !elt.hasAttribute || !elt.hasAttribute("data-resend")) return false;
    const form = elt;
    const delay = RESEND_DELAYS_MS[Math.min(attempt, RESEND_DELAYS_MS.length - 1)];
    // the same values as the failed request, the same client token among them
    const values = {};
    if (config.formData) for (const [key, value] of config.formData.entries()) values[key] = value;
    flash(`Connection trouble: sending your answer again (attempt ${attempt + 2})…`);
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    clearTimeout(resendTimer);
    resendTimer = setTimeout(() => {
      resendTimer = null;
      if (!document.body.contains(form)) return;
      form.dataset.resendAttempt = String(attempt + 1);
      htmx.ajax(config.verb.toUpperCase(), config.path, {
        source: form, target: "#workspace", swap: "outerHTML", values: values,
      });
    }, delay);
    return true;
  }

  function attemptOf(detail) {
    return Number((detail.elt && detail.elt.dataset && detail.elt.dataset.resendAttempt) || "0");
  }

  document.addEventListener("htmx:responseError", (event) => {
    const detail = event.detail;
    if (detail.xhr.status >= 500 && resend(detail, attemptOf(detail))) return;
    flash(detail.xhr.responseText || "The server refused that request.");
  });
  document.addEventListener("htmx:sendError", (event) => {
    if (resend(event.detail, attemptOf(event.detail))) return;
    flash("Connection lost: that was not sent. Press the key again to retry.");
  });
  document.addEventListener("htmx:beforeRequest", () => flash(""));
  document.addEventListener("htmx:afterRequest", (event) => {
    const detail = event.detail;
    if (detail.successful && detail.elt && detail.elt.dataset) delete detail.elt.dataset.resendAttempt;
  });
})();
