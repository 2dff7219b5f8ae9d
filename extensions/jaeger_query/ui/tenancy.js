// @ts-check
/**
 * Tenancy in the page: when the query service has `tenancy` on, it tells the page the header
 * and the tenants allowed (`api/tenancy`, served without a tenant); the page offers them in a
 * picker above the content, keeps the choice for the browser (localStorage), and sends it in
 * that header on every API call (see `withTenant`, used by api.js). Changing the tenant reloads
 * the page, so nothing of the previous tenant stays on screen.
 *
 * Known limit: the live tail's EventSource cannot send headers, so with tenancy on it is
 * refused (as it is behind a bearer token).
 */

import { withAuth } from './auth.js';

const STORAGE_KEY = 'tracegate.tenant';

/** @type {{enabled: boolean, header?: string, tenants?: string[]}} */
let settings = { enabled: false };
/** @type {string | null} */
let chosen = null;

/** Settles once the settings are known (or could not be read: tenancy then counts as off). */
export const tenancyReady = loadSettings();

async function loadSettings() {
  try {
    const resp = await fetch(new URL('api/tenancy', document.baseURI), { headers: withAuth({ Accept: 'application/json' }) });
    if (resp.ok) settings = await resp.json();
  } catch {
    settings = { enabled: false };
  }
  if (!settings.enabled) return;
  const tenants = settings.tenants || [];
  const kept = localStorage.getItem(STORAGE_KEY);
  chosen = kept && tenants.includes(kept) ? kept : tenants[0] || null;
  showPicker(tenants);
}

/**
 * `headers` with the chosen tenant's header added, when tenancy is on.
 * @param {Record<string, string>} headers
 * @returns {Record<string, string>}
 */
export function withTenant(headers) {
  return settings.enabled && settings.header && chosen ? { ...headers, [settings.header]: chosen } : headers;
}

/** The tenant the page shows, or null when tenancy is off. */
export function currentTenant() {
  return settings.enabled ? chosen : null;
}

/** @param {string[]} tenants */
function showPicker(tenants) {
  const bar = document.createElement('div');
  bar.className = 'tenant-bar';
  const label = document.createElement('label');
  label.textContent = 'Tenant ';
  const select = document.createElement('select');
  select.id = 'tenant-picker';
  select.setAttribute('aria-label', 'Tenant');
  for (const t of tenants) {
    const option = document.createElement('option');
    option.value = t;
    option.textContent = t;
    option.selected = t === chosen;
    select.append(option);
  }
  select.addEventListener('change', () => {
    localStorage.setItem(STORAGE_KEY, select.value);
    location.reload();
  });
  label.append(select);
  bar.append(label);
  const main = document.getElementById('page');
  document.body.insertBefore(bar, main);
}
