// The few icons of the navigation, as inline SVG (no icon font, nothing to download).
const PATHS: Record<string, string> = {
  sessions: "M4 5h16v14H4zM7 9l3 3-3 3M12 15h5",
  machines: "M3 5h18v11H3zM8 20h8M12 16v4",
  new: "M12 5v14M5 12h14",
  templates: "M5 4h10l4 4v12H5zM14 4v5h5",
  members: "M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 20c0-3 3-5 6-5s6 2 6 5M17 11a3 3 0 1 0 0-6M21 20c0-3-2-4.5-4-5",
  settings: "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM4 12h2M18 12h2M12 4v2M12 18v2M6.3 6.3l1.4 1.4M16.3 16.3l1.4 1.4M6.3 17.7l1.4-1.4M16.3 7.7l1.4-1.4",
  keys: "M14 10a4 4 0 1 0-3.9 4.9L8 17v3h3v-2h2v-2l1.1-1.1A4 4 0 0 0 14 10z",
  account: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 4-6 8-6s8 2 8 6",
  audit: "M6 3h9l4 4v14H6zM9 11h7M9 15h7M9 7h3",
  usage: "M4 20h16M6 20V12M10 20V6M14 20v-9M18 20v-5",
  billing: "M3 6h18v12H3zM3 10h18M7 15h4",
  license: "M4 4h16v12H4zM8 8h8M8 12h5M15 16l1 5 2-2 2 2 1-5",
  outbox: "M3 6h18v12H3zM3 7l9 6 9-6",
  more: "M4 7h16M4 12h16M4 17h16",
  chevron: "M7 10l5 5 5-5",
  check: "M5 12l5 5 9-10",
};

export function Icon({ name, size = 20 }: { name: keyof typeof PATHS | string; size?: number }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={PATHS[name] ?? ""} fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
    </svg>
  );
}
