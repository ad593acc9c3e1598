import { describe, expect, it } from "vitest";
import { fieldProblems, patternSentence, readableError, sentence } from "../src/lib/messages";
import { freeSpot } from "../src/editor/mapping";
import { describeOutcome } from "../src/editor/SimulatePanel";

describe("validator messages as sentences", () => {
  it("reads patterns as what to type", () => {
    expect(patternSentence("^\\d{2,6}$")).toBe("Use 2 to 6 digits");
    expect(patternSentence("^[0-9]{2,6}$")).toBe("Use 2 to 6 digits");
    expect(patternSentence("^([01]\\d|2[0-3]):[0-5]\\d$")).toBe("Enter a time like 09:00");
    expect(patternSentence("^https?://")).toMatch(/^Enter a web address/);
    expect(patternSentence("^[1-9][0-9]{0,3}$")).toBe("Use 1 to 4 digits, not starting with 0");
    expect(patternSentence("^[0-9]{1,6}(\\.[0-9]{1,3})?(:[1-9][0-9]{0,5})?$")).toMatch(/^Enter calls per second like 5/);
    expect(patternSentence("^[0-9]{1,4}$")).toBe("Use 1 to 4 digits");
    expect(sentence("must match pattern \"^\\d{2,6}$\"")).toBe("Use 2 to 6 digits");
    expect(sentence("String should match pattern '^[^/\\x00-\\x1f]+$'")).toBe(
      "Do not use / or control characters",
    );
  });
  it("reads counts, limits and required", () => {
    expect(sentence("must NOT have fewer than 2 items", "days")).toBe("Choose at least 2 days");
    expect(sentence("must NOT have fewer than 2 items", "hours.mon.0")).toBe(
      "Enter a range like 09:00-17:00",
    );
    expect(sentence("Input should be greater than or equal to 5")).toBe("Enter 5 or more");
    expect(sentence("Field required")).toBe("This is required");
    expect(sentence("Value error, times must be HH:MM, got '9'-'5'")).toBe("Enter a time like 09:00");
  });
  it("drops API paths from the one-line text and keys problems by field", () => {
    const details = [{ path: "body.pin", message: "Value error, must be 4-8 digits" }];
    expect(readableError("body.pin: Value error, must be 4-8 digits", details)).toBe(
      "PIN: Use 4 to 8 digits",
    );
    expect(fieldProblems(details)).toEqual({ pin: "Use 4 to 8 digits" });
    expect(readableError("mailbox '100' belongs to extensions 101", null)).toBe(
      "mailbox '100' belongs to extensions 101",
    );
  });
});

describe("placing elements", () => {
  it("puts each new element where none is", () => {
    const doc = {
      name: "f",
      entry: "a",
      nodes: { a: { type: "hangup", params: {}, next: {} } },
      layout: { a: { x: 0, y: 0 } },
    };
    const p = freeSpot(doc, { x: 0, y: 0 });
    expect(Math.abs(p.x) >= 240 || Math.abs(p.y) >= 140).toBe(true);
    expect(freeSpot({ ...doc, nodes: {}, layout: {} }, { x: 5, y: 6 })).toEqual({ x: 5, y: 6 });
  });
});

describe("simulation outcomes", () => {
  const end = (output: string | null) => ({ t: 1, node: "ring", type: "end", output, facts: {} });
  it("an answered call ending is no problem", () => {
    const r = {
      outcome: "answered",
      reason: "output answered of node ring is not connected",
      answered_by: "101",
      trace: [end("answered")],
    };
    expect(describeOutcome(r)).toEqual({
      text: "answered by 101; the call ends when either side hangs up",
      problem: false,
    });
  });
  it("a loop is a problem", () => {
    const r = { outcome: "step_limit", reason: "50 steps", answered_by: null, trace: [] };
    expect(describeOutcome(r).problem).toBe(true);
  });
});

describe("password rule", () => {
  it("reads the server's rule without its API hint", () => {
    expect(
      sentence(
        "Value error, must be at least 12 characters (leave it out of POST /api/v1/extensions to have flowpbx generate one)",
      ),
    ).toBe("Enter at least 12 characters");
    expect(sentence("String should have at least 4 characters")).toBe("Enter at least 4 characters");
  });
});
