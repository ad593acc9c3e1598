import { describe, expect, it } from "vitest";
import {
  addMenuKey,
  addNode,
  applyAutoLayout,
  diffFlows,
  canvasToFlow,
  connect,
  disconnect,
  emptyFlow,
  flowToCanvas,
  litEdgesOf,
  normalizeDoc,
  removeNode,
  renameNode,
  setParams,
} from "../src/editor/mapping";
import * as H from "../src/editor/history";
import type { FlowDoc } from "../src/editor/types";

// The example flow of SPEC §3.
export const SPEC_EXAMPLE: FlowDoc = {
  name: "Main line",
  entry: "start",
  nodes: {
    start: { type: "numbers", params: { numbers: ["+37167000001"] }, next: { next: "hours" } },
    hours: { type: "time_routing", params: { schedule: "office" }, next: { true: "menu", false: "vm" } },
    menu: {
      type: "menu",
      params: { prompt: "menu-press-1-2", timeout_s: 5, retries: 3 },
      next: { "1": "sales", "2": "hook", timeout: "vm", invalid: "vm" },
    },
    sales: {
      type: "queue",
      params: { members: ["101", "102"], strategy: "ring_all", max_wait_s: 120 },
      next: { timeout: "vm" },
    },
    hook: { type: "http_notify", params: { url: "https://crm.example/hook" }, next: { "1": "sales", default: "vm" } },
    vm: { type: "voicemail", params: { mode: "leave", mailbox: "100" }, next: {} },
  },
  layout: { start: { x: 0, y: 0 } },
};

describe("flow -> canvas", () => {
  it("makes one node per element and one edge per connected output", () => {
    const { nodes, edges } = flowToCanvas(SPEC_EXAMPLE);
    expect(nodes.map((n) => n.id).sort()).toEqual(["hook", "hours", "menu", "sales", "start", "vm"]);
    expect(edges).toHaveLength(10);
    const e = edges.find((x) => x.id === "menu:2");
    expect(e).toMatchObject({ source: "menu", sourceHandle: "2", target: "hook" });
  });

  it("labels every output of a node as a handle, menu keys first", () => {
    const { nodes } = flowToCanvas(SPEC_EXAMPLE);
    const byId = Object.fromEntries(nodes.map((n) => [n.id, n.data]));
    expect(byId.menu.outputs).toEqual(["1", "2", "timeout", "invalid"]);
    expect(byId.hours.outputs).toEqual(["true", "false"]);
    expect(byId.vm.outputs).toEqual(["recorded", "no_message"]);
    expect(byId.hook.outputs).toEqual(["1", "2", "3", "4", "5", "default"]);
    expect(byId.start.isEntry).toBe(true);
  });

  it("keeps stored positions and lays out the others", () => {
    const { nodes } = flowToCanvas(SPEC_EXAMPLE);
    const start = nodes.find((n) => n.id === "start");
    expect(start?.position).toEqual({ x: 0, y: 0 });
    const positions = new Set(nodes.map((n) => `${n.position.x},${n.position.y}`));
    expect(positions.size).toBe(nodes.length);
  });

  it("marks problems and the lit path", () => {
    const { nodes, edges } = flowToCanvas(SPEC_EXAMPLE, {
      problems: { vm: ["mailbox: missing"] },
      lit: ["start", "hours", "vm"],
      litEdges: litEdgesOf(SPEC_EXAMPLE, [
        { node: "start", output: "next" },
        { node: "hours", output: "false" },
        { node: "vm", output: null },
      ]),
    });
    const vm = nodes.find((n) => n.id === "vm");
    expect(vm?.data.problems).toEqual(["mailbox: missing"]);
    expect(vm?.data.step).toBe(3);
    expect(nodes.find((n) => n.id === "menu")?.data.lit).toBe(false);
    expect(edges.filter((e) => e.animated).map((e) => e.id).sort()).toEqual(["hours:false", "start:next"]);
  });
});

describe("canvas -> flow", () => {
  it("round-trips the SPEC example", () => {
    const { nodes, edges } = flowToCanvas(SPEC_EXAMPLE);
    const back = canvasToFlow("Main line", nodes, edges, "start");
    expect(back.nodes).toEqual(SPEC_EXAMPLE.nodes);
    expect(back.entry).toBe("start");
    expect(back.layout.start).toEqual({ x: 0, y: 0 });
    expect(Object.keys(back.layout).sort()).toEqual(Object.keys(SPEC_EXAMPLE.nodes).sort());
  });

  it("picks the numbers element as entry when none is given", () => {
    const { nodes, edges } = flowToCanvas(SPEC_EXAMPLE);
    expect(canvasToFlow("x", nodes.reverse(), edges).entry).toBe("start");
  });
});

describe("edits", () => {
  it("builds the SPEC example from an empty flow", () => {
    let d = emptyFlow("Main line");
    const add = (type: string, id: string) => {
      [d] = addNode(d, type, { x: 0, y: 0 }, id);
    };
    add("numbers", "start");
    add("time_routing", "hours");
    add("menu", "menu");
    add("queue", "sales");
    add("http_notify", "hook");
    add("voicemail", "vm");
    for (const [id, node] of Object.entries(SPEC_EXAMPLE.nodes)) d = setParams(d, id, node.params);
    for (const [id, node] of Object.entries(SPEC_EXAMPLE.nodes))
      for (const [out, target] of Object.entries(node.next)) d = connect(d, id, out, target as string);
    expect(d.entry).toBe("start");
    expect(d.nodes).toEqual(SPEC_EXAMPLE.nodes);
  });

  it("names new elements after their type", () => {
    let d = emptyFlow("f");
    let id: string;
    [d, id] = addNode(d, "numbers", { x: 0, y: 0 });
    expect(id).toBe("start");
    [d, id] = addNode(d, "play", { x: 0, y: 0 });
    expect(id).toBe("play");
    [d, id] = addNode(d, "play", { x: 0, y: 0 });
    expect(id).toBe("play2");
  });

  it("removes a node with the connections into it", () => {
    const d = removeNode(SPEC_EXAMPLE, "vm");
    expect("vm" in d.nodes).toBe(false);
    expect(d.nodes.menu.next).toEqual({ "1": "sales", "2": "hook" });
    expect(d.nodes.hours.next).toEqual({ true: "menu" });
  });

  it("renames a node and every reference to it", () => {
    const d = renameNode(SPEC_EXAMPLE, "start", "entry");
    expect(d.entry).toBe("entry");
    expect(d.layout.entry).toEqual({ x: 0, y: 0 });
    expect(renameNode(SPEC_EXAMPLE, "vm", "menu")).toBe(SPEC_EXAMPLE);
  });

  it("disconnects one output", () => {
    expect(disconnect(SPEC_EXAMPLE, "menu", "2").nodes.menu.next).toEqual({
      "1": "sales",
      timeout: "vm",
      invalid: "vm",
    });
  });

  it("adds menu keys as outputs", () => {
    const d = addMenuKey(SPEC_EXAMPLE, "menu", "9");
    expect(flowToCanvas(d).nodes.find((n) => n.id === "menu")?.data.outputs).toEqual([
      "1",
      "2",
      "9",
      "timeout",
      "invalid",
    ]);
  });

  it("drops outputs a settings change removes (voicemail leave -> listen)", () => {
    let d = connect(SPEC_EXAMPLE, "vm", "recorded", "start");
    d = setParams(d, "vm", { mode: "listen", mailbox: "100" });
    expect(d.nodes.vm.next).toEqual({});
  });

  it("auto-layout flows left to right", () => {
    const d = applyAutoLayout(SPEC_EXAMPLE);
    const x = (id: string) => (d.layout[id] as { x: number }).x;
    expect(x("start")).toBeLessThan(x("hours"));
    expect(x("hours")).toBeLessThan(x("menu"));
    expect(x("menu")).toBeLessThan(x("hook"));
  });

  it("normalizes a document from the API", () => {
    const d = normalizeDoc({ nodes: { a: { type: "hangup" } as never } }, "n");
    expect(d).toEqual({ name: "n", entry: "", nodes: { a: { type: "hangup", params: {}, next: {} } }, layout: {} });
  });
});

describe("undo/redo", () => {
  it("walks back and forth through edits", () => {
    let h = H.start(emptyFlow("f"));
    const [d1] = addNode(h.present, "numbers", { x: 0, y: 0 });
    h = H.commit(h, d1);
    const [d2] = addNode(h.present, "hangup", { x: 100, y: 0 });
    h = H.commit(h, d2);
    h = H.undo(h);
    expect(Object.keys(h.present.nodes)).toEqual(["start"]);
    h = H.undo(h);
    expect(Object.keys(h.present.nodes)).toEqual([]);
    h = H.redo(H.redo(h));
    expect(Object.keys(h.present.nodes)).toEqual(["start", "hangup"]);
    h = H.replace(h, { ...h.present, name: "g" });
    expect(H.undo(h).present).toBe(d1);
  });
});

describe("revision diff", () => {
  it("lists added, removed and changed elements", () => {
    let d = removeNode(SPEC_EXAMPLE, "hook");
    [d] = addNode(d, "hangup", { x: 0, y: 0 }, "bye");
    d = setParams(d, "sales", { ...d.nodes.sales.params, strategy: "linear" });
    d = connect(d, "vm", "recorded", "bye");
    const diff = diffFlows(SPEC_EXAMPLE, d);
    expect(diff.added).toEqual(["bye"]);
    expect(diff.removed).toEqual(["hook"]);
    expect(diff.changed).toEqual([
      { id: "menu", what: ["2: hook → —"] },
      { id: "sales", what: ['strategy: "ring_all" → "linear"'] },
      { id: "vm", what: ["recorded: — → bye"] },
    ]);
    expect(diff.entry).toBeNull();
    expect(diffFlows(SPEC_EXAMPLE, SPEC_EXAMPLE)).toEqual({ added: [], removed: [], changed: [], entry: null });
  });
});
