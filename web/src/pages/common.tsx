import type { ReactNode } from "react";
import { T } from "../lib/text";

export interface Column<R> {
  title: string;
  render: (row: R) => ReactNode;
}

export function Table<R>(props: {
  rows: R[] | null;
  columns: Column<R>[];
  rowKey: (r: R) => string;
  label: string;
  error?: string;
}) {
  if (props.error)
    return (
      <div className="error" role="alert">
        {props.error}
      </div>
    );
  if (!props.rows) return <p>{T.common.loading}</p>;
  if (!props.rows.length) return <p className="muted">{T.common.empty}</p>;
  return (
    <table aria-label={props.label}>
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th key={c.title} scope="col">
              {c.title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => (
          <tr key={props.rowKey(r)} data-testid={`row-${props.rowKey(r)}`}>
            {props.columns.map((c) => (
              <td key={c.title}>{c.render(r)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Page(props: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <main className="page">
      <header className="page-head">
        <h1>{props.title}</h1>
        <div className="actions">{props.actions}</div>
      </header>
      {props.children}
    </main>
  );
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}
