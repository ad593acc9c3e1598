// The element palette: drag an element onto the canvas, or focus it and press Enter.
import { T } from "../lib/text";
import { ELEMENTS } from "./elements";
import { Icon } from "./ElementNode";

export const DND_TYPE = "application/x-flowpbx-element";

export function Palette(props: { onPlace: (type: string) => void }) {
  return (
    <nav className="palette" aria-label={T.editor.palette}>
      <h2>{T.editor.palette}</h2>
      <p className="muted">{T.editor.paletteHint}</p>
      {ELEMENTS.map((el) => (
        <div
          key={el.type}
          className="palette-item"
          draggable
          tabIndex={0}
          role="button"
          data-testid={`palette-${el.type}`}
          title={el.hint}
          onDragStart={(e) => {
            e.dataTransfer.setData(DND_TYPE, el.type);
            e.dataTransfer.effectAllowed = "move";
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" || e.key === " ") {
              e.preventDefault();
              props.onPlace(el.type);
            }
          }}
        >
          <Icon path={el.icon} color={el.color} />
          <span>{el.label}</span>
        </div>
      ))}
    </nav>
  );
}
