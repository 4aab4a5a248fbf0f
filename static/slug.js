// New-project form: the slug follows the name until someone edits the slug by hand.
// (The server makes the same slug from the name when the field is left empty.)
(function () {
  "use strict";
  function slugify(text) {
    return text
      .normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^\w\s-]/g, "")
      .replace(/[-\s_]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 100);
  }
  function wire(form) {
    var name = document.getElementById(form.dataset.slugFrom);
    var slug = document.getElementById(form.dataset.slugTo);
    if (!name || !slug) return;
    var touched = slug.value !== "" && slug.value !== slugify(name.value);
    slug.addEventListener("input", function () { touched = slug.value !== ""; });
    name.addEventListener("input", function () { if (!touched) slug.value = slugify(name.value); });
  }
  function init() { document.querySelectorAll("form[data-slug-from]").forEach(wire); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
