// Copy buttons: each element with `data-copy` gets a button that copies its text. Without
// script (or without a clipboard) the text stays selectable as it is.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) {
    return;
  }
  for (const block of document.querySelectorAll("[data-copy]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(block.textContent.trim()).then(
        () => { button.textContent = "Copied"; },
        () => { button.textContent = "Select and copy by hand"; },
      );
    });
    block.after(button);
  }
});
