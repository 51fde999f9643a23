/* The cadre pages' own behaviour, kept out of the HTML so the Content-Security-Policy can
   refuse every inline script (an injected one included). No framework: two small hooks. */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  /* Exports: the village chosen applies to every download link. */
  for (const select of document.querySelectorAll("select[data-export-village]")) {
    select.addEventListener("change", () => {
      for (const link of document.querySelectorAll("a.export")) {
        const url = new URL(link.href);
        if (select.value) url.searchParams.set("village", select.value);
        else url.searchParams.delete("village");
        link.href = url.toString();
      }
    });
  }
  /* The public-notice page: a print button. */
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
