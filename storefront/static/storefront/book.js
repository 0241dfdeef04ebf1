/* Progressive enhancement of the couple-facing pages: everything works
   without this file; with it, the calendar replaces the date input, the
   total runs as add-ons are ticked, and the booking form, month changes and
   the payment status update in place (no full reload). No inline script:
   the pages run under a CSP without 'unsafe-inline'. */
(function () {
  "use strict";
  var FRAGMENT = { "X-Altar-Fragment": "1" };

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function formatMoney(form, cents) {
    var digits = parseInt(form.dataset.moneyDigits, 10);
    var whole = Math.floor(cents / Math.pow(10, digits));
    var frac = cents % Math.pow(10, digits);
    var grouped = String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, form.dataset.moneyGroup);
    var number = digits ? grouped + form.dataset.moneyDecimal + String(frac).padStart(digits, "0") : grouped;
    return form.dataset.moneyPattern.replace("{n}", number);
  }

  function bookingPage(form) {
    var calendar = $("#calendar");
    var dateInput = $("#id_event_date");
    var choice = $("#date-choice");
    var problem = $("#problem");

    // --- packages, add-ons, running total ---
    function selectedPackage() {
      var radio = $("input[name=package]:checked", form);
      return radio ? radio.value : "";
    }
    function refreshAddOns() {
      var slug = selectedPackage();
      $$(".addons", form).forEach(function (box) { box.hidden = box.dataset.package !== slug; });
      $("#addons-hint").hidden = slug !== "";
      var total = 0;
      var radio = $("input[name=package]:checked", form);
      if (radio) {
        total += parseInt(radio.dataset.price, 10);
        $$(".addons[data-package='" + slug + "'] input:checked", form).forEach(function (box) {
          total += parseInt(box.dataset.price, 10);
        });
      }
      $("#total-line").hidden = !radio;
      $("#total").textContent = radio ? formatMoney(form, total) : "";
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "package" || event.target.type === "checkbox") refreshAddOns();
    });
    refreshAddOns();

    // --- the calendar replaces the date input ---
    function markSelected() {
      $$(".day.free", calendar).forEach(function (day) {
        day.setAttribute("aria-pressed", day.dataset.date === dateInput.value ? "true" : "false");
      });
    }
    function showFieldError(name, text) {
      var node = $("#err-" + name);
      if (!node) return;
      node.textContent = text || "";
      node.hidden = !text;
    }
    function loadMonth(month, focusSelector) {
      var url = form.dataset.calendarUrl;
      url += (url.indexOf("?") < 0 ? "?" : "&") + "month=" + encodeURIComponent(month);
      return fetch(url, { headers: FRAGMENT }).then(function (response) {
        if (!response.ok) throw new Error("calendar " + response.status);
        return response.text();
      }).then(function (html) {
        calendar.innerHTML = html;
        markSelected();
        if (focusSelector) {
          var target = $(focusSelector, calendar) || $(".cal-title", calendar);
          if (target) target.focus();
        }
      });
    }
    calendar.hidden = false;
    $("#calendar-legend").hidden = false;
    $("#date-input").hidden = true;
    if (dateInput.value) {
      var chosen = $(".day[data-date='" + dateInput.value + "']", calendar);
      if (chosen) { choice.hidden = false; choice.textContent = choice.dataset.prefix + " " + chosen.dataset.label; }
    }
    markSelected();
    calendar.addEventListener("click", function (event) {
      var nav = event.target.closest(".cal-nav[data-month]");
      if (nav) {
        var forward = nav.getAttribute("aria-label");
        loadMonth(nav.dataset.month, ".cal-nav[aria-label='" + forward + "']");
        return;
      }
      var day = event.target.closest(".day[data-date]");
      if (!day) return;
      if (day.classList.contains("taken")) {
        showFieldError("event_date", calendar.dataset.taken
          .replace("{date}", day.dataset.label).replace("{reason}", day.dataset.reason));
        return;
      }
      dateInput.value = day.dataset.date;
      markSelected();
      showFieldError("event_date", "");
      choice.hidden = false;
      choice.textContent = choice.dataset.prefix + " " + day.dataset.label;
    });

    // --- submit without leaving the page until Stripe's checkout ---
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = $("#pay-button");
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
      fetch(form.action || window.location.href, {
        method: "POST", body: new FormData(form), headers: FRAGMENT
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (result.ok && result.body.redirect) {
          // Stripe's page cannot be framed: inside the widget, leave the frame.
          (window.top === window ? window : window.top).location.href = result.body.redirect;
          return;
        }
        $$(".field-error", form).forEach(function (node) { node.textContent = ""; node.hidden = true; });
        $$("[aria-invalid]", form).forEach(function (node) { node.removeAttribute("aria-invalid"); });
        var fields = result.body.fields || {};
        Object.keys(fields).forEach(function (name) {
          showFieldError(name, fields[name].join(" "));
          var input = form.elements[name];
          if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
        });
        problem.textContent = result.body.error;
        problem.hidden = false;
        problem.focus();
        if (result.body.refresh_calendar) {
          var current = $(".cal", calendar);
          dateInput.value = "";
          choice.hidden = true;
          if (current) loadMonth(current.dataset.month);
        }
      }).catch(function () {
        // The network failed: fall back to a plain form post.
        form.submit();
      }).finally(function () {
        button.removeAttribute("aria-busy");
        button.disabled = false;
      });
    });
  }

  function statusPage(region) {
    var seconds = parseInt(region.dataset.refresh, 10);
    if (!seconds) return;
    window.setTimeout(function () {
      fetch(window.location.href, { headers: FRAGMENT }).then(function (response) {
        return response.text();
      }).then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var next = holder.firstElementChild;
        region.replaceWith(next);
        statusPage(next);
      }).catch(function () { statusPage(region); });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = $("#booking-form");
    if (form) bookingPage(form);
    var region = $("#status-region");
    if (region) statusPage(region);
  });
})();
