// The settings of the selected element: its id, the schema form, test request, menu keys
// and delete.
import { useState } from "react";
import { sentence } from "../lib/messages";
import { T } from "../lib/text";
import { ELEMENT_BY_TYPE } from "./elements";
import { Icon } from "./ElementNode";
import { playAudio } from "./flowApi";
import { addMenuKey, removeNode, renameNode, setParams } from "./mapping";
import { SchemaForm } from "./SchemaForm";
import { MENU_KEYS, menuKeys } from "./schema";
import { TESTABLE_TYPES, TestRequest } from "./TestRequest";
import type { FlowDocument } from "./useFlowDocument";

export function SettingsPanel(props: { fd: FlowDocument; selected: string; readOnly: boolean }) {
  const { fd, selected, readOnly } = props;
  const [newKey, setNewKey] = useState("1");
  const doc = fd.doc;
  const node = doc?.nodes[selected];
  if (!doc || !node) return null;
  const el = ELEMENT_BY_TYPE[node.type];
  return (
    <aside className="side-panel settings" aria-label={T.editor.settings}>
      <header>
        <h2>
          <Icon path={el?.icon ?? ""} color={el?.color ?? "#000"} /> {el?.label ?? node.type}
        </h2>
        <button className="icon-btn" aria-label={T.common.close} onClick={() => fd.setSelected(null)}>
          ✕
        </button>
      </header>
      <RenameField
        key={selected}
        id={selected}
        taken={Object.keys(doc.nodes)}
        disabled={readOnly}
        onRename={(to) => {
          fd.edit((d) => renameNode(d, selected, to));
          fd.setSelected(to);
        }}
      />
      <SchemaForm
        key={`${selected}-form`}
        type={node.type}
        params={node.params}
        readOnly={readOnly}
        library={fd.library}
        serverProblems={(fd.serverProblems ?? [])
          .filter((p) => p.node === selected && p.field?.startsWith("params."))
          .map((p) => ({
            field: (p.field as string).slice(7).split(".")[0],
            message: sentence(p.message, (p.field as string).slice(7)),
          }))}
        onChange={(params) => fd.edit((d) => setParams(d, selected, params))}
        onPlayAudio={(n) => playAudio(n)}
        onUploadAudio={fd.uploadAudio}
      />
      {TESTABLE_TYPES.includes(node.type) && !readOnly && (
        <TestRequest key={`${selected}-test`} node={node} flow={doc.name} />
      )}
      {node.type === "menu" && !readOnly && (
        <div className="add-key">
          <label htmlFor="new-key">{T.editor.addKey}</label>
          <select id="new-key" value={newKey} onChange={(e) => setNewKey(e.target.value)}>
            {MENU_KEYS.filter((k) => !menuKeys(node).includes(k)).map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
          <button onClick={() => fd.edit((d) => addMenuKey(d, selected, newKey))}>{T.editor.addKey}</button>
        </div>
      )}
      {!readOnly && (
        <button
          className="danger"
          onClick={() => {
            fd.edit((d) => removeNode(d, selected));
            fd.setSelected(null);
          }}
        >
          {T.editor.deleteNode}
        </button>
      )}
    </aside>
  );
}

function RenameField(props: { id: string; taken: string[]; disabled: boolean; onRename: (to: string) => void }) {
  const [value, setValue] = useState(props.id);
  const bad = value !== props.id && (props.taken.includes(value) || !/^[A-Za-z0-9_-]{1,100}$/.test(value));
  return (
    <div className="field">
      <label htmlFor="node-id">{T.editor.nodeId}</label>
      <input
        id="node-id"
        value={value}
        disabled={props.disabled}
        aria-invalid={bad || undefined}
        onChange={(e) => setValue(e.target.value)}
        onBlur={() => !bad && value !== props.id && props.onRename(value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !bad && value !== props.id) props.onRename(value);
        }}
      />
      {bad && <div className="problem">{T.editor.badName}</div>}
    </div>
  );
}
