import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { outputLabel } from "../src/editor/ElementNode";
import { ELEMENTS } from "../src/editor/elements";
import { formatHolidays, parseHolidays } from "../src/pages/Admin";
import { coerce, parseIntervals, SchemaForm } from "../src/editor/SchemaForm";
import { elementTypes, fieldsFor, outputsOf, validateParams } from "../src/editor/schema";

afterEach(cleanup);

describe("schema", () => {
  it("the palette has exactly the 14 element types of the schema", () => {
    expect(ELEMENTS.map((e) => e.type).sort()).toEqual(elementTypes().sort());
    expect(ELEMENTS).toHaveLength(14);
    expect(ELEMENTS.map((e) => e.label)).toContain("Routing by call history");
  });

  it("derives fields with kinds, defaults and requiredness", () => {
    const f = Object.fromEntries(fieldsFor("queue").map((x) => [x.name, x]));
    expect(f.strategy).toMatchObject({ kind: "choice", default: "ring_all" });
    expect(f.strategy.options).toContain("fewest_calls");
    expect(f.members.kind).toBe("member-list");
    expect(f.max_wait_s).toMatchObject({ kind: "number", default: 300, required: false });
    expect(f.max_callers.kind).toBe("integer");
    expect(f.join_empty.kind).toBe("boolean");
    expect(f.exit_key).toMatchObject({ kind: "choice", nullable: true });
    const play = Object.fromEntries(fieldsFor("play").map((x) => [x.name, x]));
    expect(play.audio).toMatchObject({ kind: "text", required: true });
    const tr = Object.fromEntries(fieldsFor("time_routing").map((x) => [x.name, x]));
    expect(tr.hours.kind).toBe("week-hours");
    expect(fieldsFor("hangup")).toEqual([]);
  });

  it("validates settings against the schema", () => {
    expect(validateParams("play", {})).toEqual([{ field: "audio", message: "this setting is required" }]);
    expect(validateParams("play", { audio: "greeting" })).toEqual([]);
    expect(validateParams("call_sip", { extension: "1" })[0].field).toBe("extension");
    expect(validateParams("queue", { strategy: "loudest" })[0].field).toBe("strategy");
    expect(validateParams("http_notify", { url: "ftp://x" })[0].field).toBe("url");
    expect(validateParams("play", { audio: "a", colour: 1 })[0]).toEqual({ field: "colour", message: "unknown setting" });
  });

  it("knows outputs per voicemail mode", () => {
    expect(outputsOf({ type: "voicemail", params: { mode: "listen" }, next: {} })).toEqual(["done"]);
  });

  it("coerces inputs", () => {
    const [num] = fieldsFor("play").filter((f) => f.name === "repeat");
    expect(coerce(num, "3")).toBe(3);
    expect(coerce(num, "")).toBeUndefined();
    const [list] = fieldsFor("email").filter((f) => f.name === "to");
    expect(coerce(list, "a@b.lv\nc@d.lv")).toEqual(["a@b.lv", "c@d.lv"]);
    expect(parseIntervals("09:00-12:00, 13:00-18:00")).toEqual([
      ["09:00", "12:00"],
      ["13:00", "18:00"],
    ]);
  });
});

describe("SchemaForm", () => {
  it("renders labelled inputs and reports changes", () => {
    let last: Record<string, unknown> = {};
    function Harness() {
      const [params, setParams] = useState<Record<string, unknown>>({});
      return (
        <SchemaForm
          type="play"
          params={params}
          onChange={(p) => {
            last = p;
            setParams(p);
          }}
        />
      );
    }
    render(<Harness />);
    expect(screen.getByRole("alert").textContent).toContain("required");
    fireEvent.change(screen.getByLabelText(/^Audio/), { target: { value: "greeting" } });
    expect(last).toEqual({ audio: "greeting" });
    expect(screen.queryByRole("alert")).toBeNull();
    fireEvent.change(screen.getByLabelText(/^Play times/), { target: { value: "2" } });
    expect(last).toEqual({ audio: "greeting", repeat: 2 });
    fireEvent.click(screen.getByLabelText(/^Answer the call first/));
    expect(last.answer).toBe(false);
    fireEvent.change(screen.getByLabelText(/^Play times/), { target: { value: "0" } });
    expect(screen.getByRole("alert").textContent).toBe("Enter 1 or more");
  });

  it("offers library pickers and choices", () => {
    let params: Record<string, unknown> = { extension: "101" };
    render(
      <SchemaForm
        type="call_sip"
        params={params}
        onChange={(p) => (params = p)}
        library={{
          audio: [],
          extensions: ["101", "102"],
          mailboxes: [],
          schedules: [],
          numbers: [],
          names: { extension: { "101": "Alice", "102": "Bob" }, mailbox: {} },
          loaded: true,
        }}
      />,
    );
    const select = screen.getByLabelText(/^Extension/) as HTMLSelectElement;
    expect(select.tagName).toBe("SELECT");
    expect(select.value).toBe("101");
    expect([...select.options].map((o) => o.textContent)).toEqual(["— pick one —", "101 Alice", "102 Bob"]);
    fireEvent.change(select, { target: { value: "102" } });
    expect(params.extension).toBe("102");
    // the schema's label and help line (flow/ui_hints.py), not the setting's name
    expect(screen.getByLabelText(/^Ring for \(s\)/)).toBeTruthy();
    expect(screen.getByText("Its registered phones ring")).toBeTruthy();
  });

  it("keeps a value that is not in the library, marked, and orders required fields first", () => {
    render(
      <SchemaForm
        type="menu"
        params={{ prompt: "gone-prompt" }}
        onChange={() => undefined}
        library={{ audio: ["menu-prompt"], extensions: [], mailboxes: [], schedules: [], numbers: [], loaded: true }}
      />,
    );
    const select = screen.getByLabelText(/^Prompt/) as HTMLSelectElement;
    expect(select.value).toBe("gone-prompt");
    expect([...select.options].map((o) => o.textContent)).toContain("gone-prompt (not found)");
    const labels = [...document.querySelectorAll(".schema-form > .field > label")].map((l) => l.textContent);
    expect(labels[0]).toMatch(/^Prompt/);
    expect(labels).toContain("Wrong key prompt");
  });

  it("edits queue members and the strategy", () => {
    let params: Record<string, unknown> = {};
    const { rerender } = render(
      <SchemaForm
        type="queue"
        params={params}
        onChange={(p) => (params = p)}
        library={{ audio: [], extensions: ["101", "102"], mailboxes: [], schedules: [], numbers: [] }}
      />,
    );
    fireEvent.click(screen.getByText("Add member"));
    expect(params.members).toEqual(["101"]);
    rerender(
      <SchemaForm
        type="queue"
        params={params}
        onChange={(p) => (params = p)}
        library={{ audio: [], extensions: ["101", "102"], mailboxes: [], schedules: [], numbers: [] }}
      />,
    );
    fireEvent.click(screen.getByText("Add member"));
    expect(params.members).toEqual(["101", "102"]);
    fireEvent.change(screen.getByLabelText(/^Strategy/), { target: { value: "fewest_calls" } });
    expect(params.strategy).toBe("fewest_calls");
  });

  it("edits office hours per weekday", () => {
    let params: Record<string, unknown> = {};
    render(<SchemaForm type="time_routing" params={params} onChange={(p) => (params = p)} />);
    fireEvent.change(screen.getByLabelText("Hours on mon"), { target: { value: "09:00-18:00" } });
    expect(params.hours).toEqual({ mon: [["09:00", "18:00"]] });
  });
});

describe("labels and office-hours text", () => {
  it("labels outputs by element type", () => {
    expect(outputLabel("menu", "1")).toBe("key 1");
    expect(outputLabel("http_notify", "1")).toBe("reply 1");
    expect(outputLabel("time_routing", "true")).toBe("office hours");
    expect(outputLabel("call_sip", "no_answer")).toBe("no answer");
  });

  it("round-trips holidays through their text form", () => {
    const h = ["2026-12-25", { date: "2026-12-31", hours: [["09:00", "13:00"]] }];
    const text = formatHolidays(h);
    expect(text).toBe("2026-12-25\n2026-12-31 09:00-13:00");
    expect(parseHolidays(text)).toEqual(h);
  });
});
