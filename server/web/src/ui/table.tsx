// Tables that become cards on narrow screens: on a phone each row is a card, each cell a line
// labelled with its column (from `data-label`), so nothing is cut off or scrolls sideways. The
// explicit ARIA roles keep the table semantics that `display: block` would otherwise drop.
import type { ComponentChildren } from "preact";

export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  /** The row's title on a card (shown first, larger, without its label). */
  primary?: boolean;
  /** Right-aligned actions (buttons), unlabelled on cards. */
  actions?: boolean;
}

export function DataTable<T>(props: {
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  rowAttrs?: (row: T) => Record<string, string>;
  empty?: ComponentChildren;
}) {
  if (props.rows.length === 0 && props.empty) return <div class="empty">{props.empty}</div>;
  return (
    <table class="data" role="table">
      <caption class="visually-hidden">{props.caption}</caption>
      <thead role="rowgroup">
        <tr role="row">
          {props.columns.map((c) => (
            <th role="columnheader" scope="col" key={c.label} class={c.actions ? "actions-col" : undefined}>
              {c.actions ? <span class="visually-hidden">{c.label}</span> : c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody role="rowgroup">
        {props.rows.map((r) => (
          <tr role="row" key={props.rowKey(r)} {...(props.rowAttrs?.(r) ?? {})}>
            {props.columns.map((c) => (
              <td
                role="cell"
                key={c.label}
                data-label={c.primary || c.actions ? undefined : c.label}
                class={c.primary ? "primary-cell" : c.actions ? "actions-cell" : undefined}
              >
                {c.cell(r)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
