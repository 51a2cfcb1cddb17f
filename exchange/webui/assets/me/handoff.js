// The development provider's hand-off page: the ID token goes from the
// page into this tab's session storage, never into a URL.
"use strict";
(() => {
  const el = document.getElementById("handoff");
  if (el && el.dataset.token) sessionStorage.setItem("ov.idtoken", el.dataset.token);
  location.replace("/me/");
})();
