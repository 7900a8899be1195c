// verifyd console: the inbox reloads its list while the page is visible. Nothing else runs
// here; every page works without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const list = document.querySelector("[data-refresh]");
  if (!list) {
    return;
  }
  const every = Number(list.dataset.refresh) || 3000;
  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", redirect: "error" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById(list.id);
        if (fresh && fresh.innerHTML !== list.innerHTML) {
          list.innerHTML = fresh.innerHTML;
        }
      }
    } catch {
      // Offline or signed out: the next reload of the page says so.
    } finally {
      busy = false;
    }
  }, every);
});
