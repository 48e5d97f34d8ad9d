// Browser check and README screenshots of the running scripts/develop demo (run by
// scripts/screenshots, which starts the new charger this needs). Debian's chromium driven by
// playwright-core: logged in with the demo's long-lived token (the frontend's hassTokens), it opens
// the charger's device page, the EV charging dashboard, the Energy dashboard and the onboarding
// dialog of a pending charger, checks each rendered with data and saves a PNG of each.
//
//   node shoot.mjs   env: HASS_URL, HASS_TOKEN, OUT_DIR, NEW_CHARGER_ID, CHARGER_NAME, CHROMIUM
// Exit code 1 when a check fails (the screenshot is saved anyway, to look at).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = (process.env.HASS_URL || "http://127.0.0.1:8123").replace(/\/$/, "");
const TOKEN = process.env.HASS_TOKEN;
const OUT = process.env.OUT_DIR || "docs/screenshots";
const NEW_CHARGER = process.env.NEW_CHARGER_ID || "SIM-CHARGER-NEW";
const CHARGER_NAME = process.env.CHARGER_NAME || "Wallbox";
const failures = [];

function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
}

// In the page: everything under a selector, through the shadow roots the frontend is made of.
const DEEP = `
window.__deepAll = (selector, root = document) => {
  const found = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    found.push(...node.querySelectorAll(selector));
    for (const el of node.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(root);
  return found;
};
window.__deepText = (el) => {
  let text = "";
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) text += node.textContent + " ";
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes || []) walk(child);
  };
  walk(el);
  return text.replace(/\\s+/g, " ").trim();
};`;

const deepTexts = (page, selector) =>
  page.evaluate((s) => window.__deepAll(s).map((el) => window.__deepText(el)), selector);
const deepCount = (page, selector) => page.evaluate((s) => window.__deepAll(s).length, selector);

async function open(page, path, readySelector) {
  await page.goto(BASE + path, { waitUntil: "load" });
  await page.waitForFunction(() => document.querySelector("home-assistant")?.hass?.states);
  if (readySelector) {
    await page.waitForFunction((s) => window.__deepAll(s).length > 0, readySelector, {
      timeout: 30000,
    });
  }
  // Charts and history load after the cards.
  await page.waitForTimeout(4000);
}

async function shoot(page, name) {
  await page.screenshot({ path: join(OUT, name) });
  console.log(`     saved ${join(OUT, name)}`);
}

// The charger: its device and entities, as the frontend knows them.
async function charger(page) {
  return page.evaluate(
    (name) => {
      const hass = document.querySelector("home-assistant").hass;
      const device = Object.values(hass.devices).find(
        (d) => (d.name_by_user || d.name) === name,
      );
      if (!device) return null;
      const entities = Object.values(hass.entities).filter((e) => e.device_id === device.id);
      // The charger's own sensor: the shortest id of its kind (sensor.wallbox_status, not
      // sensor.wallbox_firmware_update_status).
      const byEnd = (end) =>
        entities
          .map((e) => e.entity_id)
          .filter((id) => id.startsWith("sensor.") && id.endsWith(end))
          .sort((a, b) => a.length - b.length)[0];
      return { id: device.id, status: byEnd("_status"), power: byEnd("_power") };
    },
    CHARGER_NAME,
  );
}

async function waitForSunCharging(page, wallbox) {
  // The simulated car charges from the PV surplus: wait (bounded) for a session drawing power.
  const ok = await page
    .waitForFunction(
      ({ status, power }) => {
        const s = document.querySelector("home-assistant").hass.states;
        const pv = Number(s["sensor.simulated_pv_power"]?.state);
        return s[status]?.state === "charging" && Number(s[power]?.state) > 0 && pv > 0;
      },
      wallbox,
      { timeout: 120000 },
    )
    .then(() => true)
    .catch(() => false);
  const now = await page.evaluate((w) => {
    const states = document.querySelector("home-assistant").hass.states;
    return {
      status: states[w.status]?.state,
      power: states[w.power]?.state,
      pv: states["sensor.simulated_pv_power"]?.state,
      grid: states["sensor.simulated_grid_power"]?.state,
    };
  }, wallbox);
  check(ok, `charger charging from the sun (${JSON.stringify(now)})`);
}

async function devicePage(page, wallbox) {
  // Taller: the sensors (power, session) too.
  await page.setViewportSize({ width: 1440, height: 1700 });
  await open(page, `/config/devices/device/${wallbox.id}`, "ha-device-entities-card");
  const cards = await deepTexts(page, "ha-device-entities-card");
  const text = cards.join(" ");
  check(/\d[\d.,]*\s*k?W\b/.test(text), "device page: the charger's power is a number");
  check(/Status Charging/.test(text), "device page: status Charging");
  await shoot(page, "device.png");
  await page.setViewportSize({ width: 1440, height: 1000 });
}

async function dashboard(page) {
  // Taller: all of the dashboard's cards.
  await page.setViewportSize({ width: 1440, height: 1300 });
  await open(page, "/ocpp-ems/charging", "hui-tile-card");
  check((await deepCount(page, "hui-warning")) === 0, "dashboard: no 'Entity not available' card");
  const tiles = await deepTexts(page, "hui-tile-card");
  const rows = await deepTexts(page, "hui-entities-card");
  const unavailable = [...tiles, ...rows].filter((t) => /Unavailable/i.test(t));
  check(
    tiles.length >= 3 && unavailable.length === 0,
    `dashboard: ${tiles.length} tiles and ${rows.length} lists, nothing unavailable ${JSON.stringify(unavailable)}`,
  );
  check(
    tiles.some((t) => /\d[\d.,]*\s*k?W\b/.test(t)),
    "dashboard: a tile shows the charging power",
  );
  await chartHasLines(page, "hui-history-graph-card", "dashboard: the power chart");
  const flow = await deepTexts(page, "hui-energy-distribution-card");
  check(flow.length === 1 && /\d/.test(flow[0]), "dashboard: the energy flow card has numbers");
  await shoot(page, "dashboard.png");
  await page.setViewportSize({ width: 1440, height: 1000 });
}

async function chartHasLines(page, cardSelector, what) {
  const found = await page
    .waitForFunction(
      (s) =>
        window.__deepAll(s).some((card) => {
          const charts = window.__deepAll("ha-chart-base", card);
          // echarts draws into a canvas (or SVG paths); an empty chart has neither series nor size.
          return charts.some((c) => {
            const chart = c.chart || c._chart;
            const series = chart?.getOption?.().series || [];
            return series.some((one) => (one.data || []).length > 1);
          });
        }),
      cardSelector,
      { timeout: 20000 },
    )
    .then(() => true)
    .catch(() => false);
  check(found, `${what} has lines`);
}

async function energy(page, wallbox) {
  // Its "Now" tab: live power of the sources and where it goes (the charger as a device). The
  // other tabs show hourly statistics, thin in a demo that has just started.
  await open(page, "/energy/now", "ha-chart-base");
  await chartHasLines(page, "hui-view", "energy: the power sources chart");
  // The power flow (a sankey chart: links in its options, the labels are drawn).
  const links = await page.evaluate(() =>
    window
      .__deepAll("ha-chart-base")
      .flatMap((c) => c.chart?.getOption?.().series || [])
      .filter((series) => series.type === "sankey")
      .flatMap((series) => series.links || []),
  );
  const flows = (source, target) =>
    links.some(
      (l) => (!source || l.source === source) && (!target || l.target === target) && l.value > 0,
    );
  check(
    flows("solar", null) && flows(null, wallbox.power),
    `energy: power flows from solar and to the charger (${JSON.stringify(links)})`,
  );
  const text = (await deepTexts(page, "ha-card")).join(" ");
  check(!/unavailable/i.test(text), "energy: nothing unavailable");
  await shoot(page, "energy.png");
}

async function onboarding(page) {
  await open(page, "/config/integrations/dashboard");
  // The pending charger's discovery flow: a "Discovered" card naming its id.
  const card = page.locator("ha-config-flow-card", { hasText: NEW_CHARGER }).first();
  await card.waitFor({ timeout: 90000 });
  await card.getByRole("button", { name: /add|configure|set up/i }).first().click();
  // The dialog's host element has no box of its own: attached, then its form.
  await page.locator("dialog-data-entry-flow").waitFor({ state: "attached", timeout: 20000 });
  await page.getByRole("button", { name: /submit/i }).waitFor({ timeout: 20000 });
  await page.waitForTimeout(2500);
  const text = (await deepTexts(page, "dialog-data-entry-flow")).join(" ");
  check(text.includes(NEW_CHARGER), `onboarding: the dialog names ${NEW_CHARGER}`);
  check(/Name/i.test(text), "onboarding: the dialog asks for a name");
  // A field without its translation shows its key as the label ("installation_max_a*").
  const raw = text.match(/\b[a-z0-9]+(?:_[a-z0-9]+)+\*/g);
  check(!raw, `onboarding: every field has its label ${raw ? `(raw keys: ${raw})` : ""}`);
  await shoot(page, "onboarding.png");
}

async function main() {
  if (!TOKEN) throw new Error("HASS_TOKEN is not set");
  const profile = mkdtempSync(join(tmpdir(), "ocpp-ems-chromium-"));
  // A fresh profile (--user-data-dir, which playwright sets from the first argument).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1440, height: 1000 },
    locale: "en-US",
    timezoneId: "Europe/Lisbon",
    colorScheme: "light",
  });
  try {
    // The frontend's saved login: the long-lived token, never expiring, nothing to refresh.
    await context.addInitScript(
      ([token, base]) => {
        window.localStorage.setItem(
          "hassTokens",
          JSON.stringify({
            access_token: token,
            token_type: "Bearer",
            expires_in: 315360000,
            expires: Date.now() + 315360000000,
            hassUrl: base,
            clientId: `${base}/`,
            refresh_token: "",
          }),
        );
        window.localStorage.setItem("dockedSidebar", JSON.stringify("docked"));
      },
      [TOKEN, BASE],
    );
    await context.addInitScript(DEEP);
    const page = await context.newPage();
    page.on("pageerror", (err) => console.log(`     page error: ${err.message}`));
    await open(page, "/ocpp-ems/charging");
    const wallbox = await charger(page);
    check(wallbox && wallbox.status && wallbox.power, `a charger named ${CHARGER_NAME}`);
    if (!wallbox) return;
    await waitForSunCharging(page, wallbox);
    const steps = { device: devicePage, dashboard, energy, onboarding };
    for (const [name, step] of Object.entries(steps)) {
      try {
        await step(page, wallbox);
      } catch (err) {
        const shot = join(tmpdir(), `ocpp-ems-${name}-failed.png`);
        await page.screenshot({ path: shot }).catch(() => {});
        check(false, `${name}: ${err.message.split("\n")[0]} (see ${shot})`);
      }
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await main().catch((err) => check(false, err.stack));
console.log(failures.length ? `${failures.length} check(s) failed` : "all checks passed");
process.exitCode = failures.length ? 1 : 0;
