import { Component, type ReactNode } from "react";
import { T } from "./text";

/** A page that throws while rendering shows what went wrong instead of a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  render() {
    if (this.state.error)
      return (
        <div className="page" role="alert">
          <h1>{T.common.error}</h1>
          <p className="error">{this.state.error.message}</p>
          <button onClick={() => this.setState({ error: null })}>{T.common.retry}</button>
        </div>
      );
    return this.props.children;
  }
}
