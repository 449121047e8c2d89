// Behaviour that the strict Content-Security-Policy keeps out of templates (no inline handlers).
// <select data-autosubmit> (or any form control with it) submits its form when changed.
document.addEventListener("change", function (event) {
  var control = event.target;
  if (control && control.hasAttribute && control.hasAttribute("data-autosubmit") && control.form) {
    if (typeof control.form.requestSubmit === "function") {
      control.form.requestSubmit();
    } else {
      control.form.submit();
    }
  }
});
