import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { summary, TestRequest, type TestResult } from "../src/editor/TestRequest";
import { T } from "../src/lib/text";
import { barHeights, peaks } from "../src/lib/waveform";
import { mediaSecurity, sipSettingsText } from "../src/pages/Extensions";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("waveform", () => {
  it("takes the loudest sample of each slice", () => {
    const tone = Array.from({ length: 800 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 8000));
    const silence = new Array(800).fill(0);
    const p = peaks([...tone, ...silence], 4);
    expect(p).toHaveLength(4);
    expect(p[0]).toBeGreaterThan(0.49);
    expect(p[1]).toBeGreaterThan(0.49);
    expect(p.slice(2)).toEqual([0, 0]);
    expect(peaks([-0.9, 0.1, 0.2], 1)).toEqual([0.9]);
    expect(peaks([1.5], 10)).toEqual([1]); // clipped, and never more bars than samples
    expect(peaks([], 10)).toEqual([]);
  });

  it("scales the loudest bar to the full height and draws silence as a thin line", () => {
    expect(barHeights([0, 0.5, 1])).toEqual([1, 50, 100]);
    expect(barHeights([0, 0.07, 0.14])).toEqual([1, 50, 100]);
    expect(barHeights([0, 0])).toEqual([1, 1]);
    expect(barHeights([0.2, 0.1], 40)).toEqual([40, 20]);
  });
});

describe("copy SIP settings", () => {
  const server = { host: "192.0.2.5", port: 5062, transports: ["udp", "tcp"], realm: "flowpbx" };

  it("lists what a phone needs, the password only when known", () => {
    const text = sipSettingsText({ number: "101", name: "Alice" }, server, "pbx.local", "s3cret");
    expect(text.split("\n")).toEqual([
      "SIP settings for extension 101 (Alice)",
      "Server: 192.0.2.5",
      "Port: 5062",
      "Transport: UDP / TCP",
      "User name: 101",
      "Authentication user: 101",
      "Domain: 192.0.2.5",
      "Password: s3cret",
    ]);
    const later = sipSettingsText({ number: "101", name: "Alice" }, server, "pbx.local", null);
    expect(later).not.toContain("s3cret");
    expect(later).toContain(`Password: ${T.extensions.passwordUnknown}`);
  });

  it("falls back to the address the browser used when the PBX listens everywhere", () => {
    const text = sipSettingsText(
      { number: "102", name: "Bob" },
      { ...server, host: null, port: null },
      "pbx.example.lan",
      null,
    );
    expect(text).toContain("Server: pbx.example.lan");
    expect(text).toContain("Domain: pbx.example.lan");
    expect(text).toContain("Port: 5060");
  });

  it("gives the TLS port and transport when flowpbx listens on TLS", () => {
    const tls = { ...server, transports: ["udp", "tcp", "tls"], tls_port: 5063 };
    const lines = sipSettingsText({ number: "101", name: "Alice" }, tls, "pbx.local", null).split("\n");
    expect(lines).toContain("Port: 5062");
    expect(lines).toContain("Transport: UDP / TCP");
    expect(lines).toContain("TLS port: 5063");
    expect(lines).toContain("TLS transport: TLS");
    const plain = sipSettingsText({ number: "101", name: "Alice" }, { ...server, tls_port: null }, "x", null);
    expect(plain).not.toContain("TLS");
  });
});

describe("media encryption of a registration", () => {
  it("says encrypted only when SRTP can really be used", () => {
    expect(mediaSecurity("required", "tls")).toBe("encrypted");
    expect(mediaSecurity("optional", "tls")).toBe("optional");
    expect(mediaSecurity("none", "tls")).toBe("plain");
    expect(mediaSecurity("optional", "udp")).toBe("plain");
    expect(mediaSecurity("optional", null)).toBe("plain");
    expect(mediaSecurity("required", "tcp")).toBe("blocked"); // SRTP keys only over TLS
    expect(mediaSecurity("required", "udp")).toBe("blocked");
  });
});

describe("test request", () => {
  const result: TestResult = {
    method: "POST",
    url: "https://crm.example/hook",
    request_body: "{}",
    status: 200,
    elapsed_ms: 12.4,
    body: "2",
    output: "2",
    error: null,
    caller_name: null,
  };

  it("sums a result up in one line", () => {
    expect(summary(result)).toBe("HTTP 200 · 12 ms · → output 2");
    expect(summary({ ...result, status: null, output: "default" })).toBe("no reply · 12 ms · → output default");
  });

  it("posts the element as the panel holds it and shows the reply", async () => {
    const calls: { url: string; body: unknown }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push({ url, body: JSON.parse(String(init.body)) });
        return new Response(JSON.stringify({ ...result, caller_name: "Anna" }), {
          status: 200,
          headers: { "Content-Type": "application/json" },
        });
      }),
    );
    const node = { type: "caller_lookup", params: { url: "https://crm.example/{caller}" }, next: { next: "menu" } };
    render(<TestRequest node={node} flow="Main" />);
    fireEvent.change(screen.getByLabelText(T.testRequest.caller), { target: { value: "+3712000" } });
    fireEvent.click(screen.getByRole("button", { name: T.testRequest.send }));
    expect((await screen.findByTestId("test-caller-name")).textContent).toBe("Anna");
    expect(screen.getByTestId("test-body").textContent).toBe("2");
    expect(calls).toEqual([
      { url: "/api/v1/flows/test-request", body: { node, flow: "Main", caller: "+3712000" } },
    ]);
  });
});

describe("validators compiled at build time", () => {
  it("judge settings without generating code in the browser", async () => {
    const { validateParams } = await import("../src/editor/schema");
    const long = `${"a".repeat(250)}@example.com`;
    expect(validateParams("email", { to: ["boss@example.com"] })).toEqual([]);
    expect(validateParams("email", { to: [long] })[0].field).toBe("to");
    // maxLength counts code points, not UTF-16 units: 135 code points (265 units) pass
    expect(validateParams("email", { to: [`${"😀".repeat(130)}@b.lv`] })).toEqual([]);
    const source = (await import("../src/editor/schema?raw")).default as string;
    expect(source).not.toMatch(/from "ajv\/dist\/2020"|new Ajv/);
  });
});

describe("English text lives in lib/text.ts", () => {
  const sources = import.meta.glob("../src/**/*.tsx", {
    query: "?raw",
    import: "default",
    eager: true,
  }) as Record<string, string>;

  it("no component has words between its tags or in its labels", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(15);
    const found: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      const code = text.replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
      // text between tags on one line (not the ">" of an arrow), or a line of words alone
      for (const m of code.matchAll(/(?<![=-])>[ \t]*([A-Za-z][A-Za-z ,.'’:!?-]*[A-Za-z]{2,})[ \t]*</g))
        found.push(`${file}: ${m[1].trim()}`);
      for (const m of code.matchAll(/^[ \t]+([A-Z][a-z]+(?: [a-z'’]+)+[.!?]?)[ \t]*$/gm))
        found.push(`${file}: ${m[1].trim()}`);
      for (const m of code.matchAll(/\b(?:aria-label|placeholder|title|alt)="([^"]*[A-Za-z]{2,}[^"]*)"/g))
        found.push(`${file}: ${m[1]}`);
    }
    expect(found).toEqual([]);
  });
});
