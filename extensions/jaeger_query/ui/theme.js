// Sets the theme before the first paint, so a dark-theme user never sees a white flash. A
// classic (blocking) script in <head> rather than inline: the page's Content-Security-Policy
// allows only the UI's own script files (see src/csp.rs).
try {
  const t = localStorage.getItem('tracegate.theme');
  document.documentElement.dataset.theme = t === 'light' || t === 'dark' ? t
    : (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
} catch (e) {}
