/* Altar booking widget. Paste on your site:
     <script src="https://<altar>/book/widget.js" data-key="pk_…" async></script>
   Options (data-*): mode="inline" renders the booking page in place instead
   of a button; label="…" changes the button's text; lang="es" picks the
   language. Only the origins listed in your Altar settings may show the
   booking page in a frame. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.key) return;
  var base = new URL(script.src, window.location.href).origin;
  var page = base + "/book/k/" + encodeURIComponent(script.dataset.key) + "/" +
    (script.dataset.lang ? "?lang=" + encodeURIComponent(script.dataset.lang) : "");

  function frame() {
    var iframe = document.createElement("iframe");
    iframe.src = page;
    iframe.title = script.dataset.title || "Check dates & book";
    iframe.setAttribute("allow", "payment");
    iframe.style.cssText = "border:0;width:100%;height:100%;background:#fff;display:block";
    return iframe;
  }

  if (script.dataset.mode === "inline") {
    var holder = document.createElement("div");
    holder.style.cssText = "width:100%;height:" + (script.dataset.height || "1400px");
    holder.appendChild(frame());
    script.parentNode.insertBefore(holder, script.nextSibling);
    return;
  }

  var button = document.createElement("button");
  button.type = "button";
  button.className = "altar-book-button";
  button.textContent = script.dataset.label || "Check dates & book";
  script.parentNode.insertBefore(button, script.nextSibling);

  var overlay = null;
  function close() {
    if (!overlay) return;
    overlay.remove();
    overlay = null;
    document.removeEventListener("keydown", onKey);
    button.focus();
  }
  function onKey(event) { if (event.key === "Escape") close(); }
  button.addEventListener("click", function () {
    if (overlay) return;
    overlay = document.createElement("div");
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", button.textContent);
    overlay.style.cssText = "position:fixed;inset:0;z-index:2147483000;background:rgba(0,0,0,.55);" +
      "display:flex;align-items:stretch;justify-content:center;padding:2vh 2vw";
    var box = document.createElement("div");
    box.style.cssText = "position:relative;width:100%;max-width:52rem;background:#fff;border-radius:8px;overflow:hidden";
    var shut = document.createElement("button");
    shut.type = "button";
    shut.textContent = "\u00d7";
    shut.setAttribute("aria-label", "Close");
    shut.style.cssText = "position:absolute;top:6px;right:8px;z-index:1;font:700 24px/1 sans-serif;" +
      "width:40px;height:40px;border:0;border-radius:50%;background:#fff;color:#111;cursor:pointer";
    shut.addEventListener("click", close);
    overlay.addEventListener("click", function (event) { if (event.target === overlay) close(); });
    var iframe = frame();
    box.appendChild(shut);
    box.appendChild(iframe);
    overlay.appendChild(box);
    document.body.appendChild(overlay);
    document.addEventListener("keydown", onKey);
    iframe.focus();
  });
})();
