// The org's usage per UTC month: a bar chart per measure (plain SVG, no chart library: six
// bars need none), this month's figure beside it, and meters against the plan's monthly limits.
import { useState } from "preact/hooks";
import { call, type Schemas } from "../api";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { bytes } from "../lib/format";
import { ErrorBox, Loading, PageHead } from "../ui/bits";
import { valueOf } from "../ui/form";

type Month = Schemas["MonthUsageDto"];
type Measure = "active_machines" | "sessions_started" | "session_hours" | "bytes_relayed" | "api_calls";

const MEASURES: { key: Measure; title: string; show: (n: number) => string }[] = [
  { key: "active_machines", title: "Active machines", show: (n) => String(n) },
  { key: "sessions_started", title: "Sessions started", show: (n) => String(n) },
  { key: "session_hours", title: "Session-hours", show: (n) => (n >= 10 ? n.toFixed(0) : n.toFixed(2)) },
  { key: "bytes_relayed", title: "Output relayed", show: bytes },
  { key: "api_calls", title: "API calls", show: (n) => n.toLocaleString() },
];

const MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "Dec 2026" for "2026-12". */
function monthLabel(key: string, withYear = true): string {
  const [y, m] = key.split("-");
  const name = MONTH_NAMES[Number(m) - 1] ?? key;
  return withYear ? `${name} ${y}` : name;
}

/** One bar per month, the current one last and highlighted; the limit as a dashed line. */
function Bars({ months, measure, show, limit }: { months: Month[]; measure: Measure; show: (n: number) => string; limit?: number }) {
  const values = months.map((m) => m[measure]);
  const top = Math.max(1, limit ?? 0, ...values);
  const w = 40;
  const h = 90;
  const width = months.length * w;
  return (
    <svg class="bars" viewBox={`0 0 ${width} ${h + 18}`} role="img" aria-label={`${MEASURES.find((m) => m.key === measure)?.title} per month`}>
      {months.map((m, i) => {
        const v = m[measure];
        const bh = v > 0 ? Math.max(2, (v / top) * h) : 0;
        return (
          <g key={m.month} data-month={m.month}>
            <title>{`${monthLabel(m.month)}: ${show(v)}`}</title>
            <rect x={i * w + 6} y={h - bh} width={w - 12} height={bh} class={i === months.length - 1 ? "now" : undefined} />
            <text x={i * w + w / 2} y={h + 14} text-anchor="middle">
              {monthLabel(m.month, false)}
            </text>
          </g>
        );
      })}
      {limit ? <line class="limit" x1={0} x2={width} y1={h - (limit / top) * h} y2={h - (limit / top) * h} /> : null}
    </svg>
  );
}

export function UsagePage() {
  useTitle("Usage");
  const { org } = usePage();
  const [count, setCount] = useState(6);
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/usage", { path: { org_id: org.id }, query: { months: count } }), [org.id, count]);
  const u = load.data;
  const now = u?.months[u.months.length - 1];
  const limits: Partial<Record<Measure, number>> = {};
  if (u?.api_calls_per_month) limits.api_calls = u.api_calls_per_month;
  if (u?.machines) limits.active_machines = u.machines;
  return (
    <section>
      <PageHead
        title="Usage"
        sub={u ? `Per calendar month (UTC), on the ${u.plan_name || u.plan} plan. API calls are requests made with API keys.` : undefined}
      >
        <label class="inline">
          Months{" "}
          <select value={String(count)} onChange={(e) => setCount(Number(valueOf(e)))}>
            {[3, 6, 12, 24].map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </PageHead>
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!u || !now ? (
        load.error ? null : <Loading />
      ) : (
        <div class="usage-grid">
          {MEASURES.map(({ key, title, show }) => {
            const limit = limits[key];
            const value = now[key];
            const over = limit != null && value >= limit;
            return (
              <article key={key} class="card usage" data-measure={key}>
                <h2>{title}</h2>
                <p class="figure">
                  <strong data-testid={`usage-${key}`}>{show(value)}</strong> in {monthLabel(now.month)}
                  {limit != null ? ` of ${show(limit)} allowed` : ""}
                </p>
                {limit != null ? (
                  <progress class={over ? "over" : undefined} max={limit} value={Math.min(value, limit)} aria-label={`${title} against the plan's limit`} />
                ) : null}
                {over && key === "api_calls" ? <p class="warn">The plan's API calls for this month are used up: API-key requests are refused until the 1st (UTC).</p> : null}
                <Bars months={u.months} measure={key} show={show} limit={limit} />
              </article>
            );
          })}
        </div>
      )}
    </section>
  );
}
