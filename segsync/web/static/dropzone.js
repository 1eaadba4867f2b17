/* The upload page's drop zone takes a dropped file: the file goes into the form's own file
   input (so the form posts it exactly as if it had been chosen), and the zone says which file
   it holds. Progressive enhancement: without this script the file input inside the zone works
   as before. A file dropped elsewhere on the page is ignored instead of replacing the page.
   Served as a file: the CSP allows no inline script. Text is written with textContent only. */
(function () {
  "use strict";
  var zone = document.querySelector("[data-testid=dropzone]");
  var input = zone && zone.querySelector("input[type=file]");
  if (!zone || !input || typeof DataTransfer === "undefined") {
    return;
  }
  var said = document.querySelector("[data-testid=dropped-file]");

  function hasFiles(event) {
    var types = event.dataTransfer ? event.dataTransfer.types : [];
    return Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  function say(text) {
    if (said) {
      said.textContent = text;
    }
  }

  // anywhere on the page: never let the browser open the dropped file in place of the page
  ["dragover", "drop"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (hasFiles(event)) {
        event.preventDefault();
      }
    });
  });

  zone.addEventListener("dragover", function (event) {
    if (hasFiles(event)) {
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    }
  });
  ["dragleave", "dragend"].forEach(function (name) {
    zone.addEventListener(name, function () {
      zone.classList.remove("dragging");
    });
  });

  zone.addEventListener("drop", function (event) {
    zone.classList.remove("dragging");
    var files = event.dataTransfer ? event.dataTransfer.files : null;
    if (!files || files.length === 0) {
      return;
    }
    event.preventDefault();
    if (files.length > 1) {
      say("Drop one file at a time: " + files.length + " files were dropped, none was taken.");
      return;
    }
    var one = new DataTransfer();
    one.items.add(files[0]);
    input.files = one.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    say(file ? "Chosen: " + file.name + ". Upload it with the button below." : "");
  });
})();
