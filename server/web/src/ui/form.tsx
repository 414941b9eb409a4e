// Forms: labelled fields with hints and inline errors, a submit button that says what it is doing,
// and errors placed where they belong. A `UserError` naming a field, or a server error code that
// `fieldFor` maps to a field, is shown under that field, which gets focus; anything else is shown
// above the buttons. Editing a field clears its error.
import { createContext, type ComponentChildren, type JSX } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, UserError, describe } from "../api";

interface FormCtx {
  errors: Record<string, string>;
  prefix: string;
}

const Ctx = createContext<FormCtx>({ errors: {}, prefix: "" });
let nextForm = 0;

/** Props for the control inside a `Field`. */
export interface ControlProps {
  id: string;
  name: string;
  "aria-invalid": boolean;
  "aria-describedby"?: string;
}

export function Field(props: {
  name: string;
  label: ComponentChildren;
  hint?: ComponentChildren;
  children: (p: ControlProps) => JSX.Element;
}) {
  const { errors, prefix } = useContext(Ctx);
  const id = `${prefix}-${props.name}`;
  const error = errors[props.name];
  const described = [props.hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      {props.children({ id, name: props.name, "aria-invalid": !!error, "aria-describedby": described || undefined })}
      {error ? (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
    </div>
  );
}

export function Form(props: {
  onSubmit: () => Promise<void>;
  submitLabel: string;
  busyLabel?: string;
  /** Which field a server error code is about. */
  fieldFor?: (code: string) => string | undefined;
  children: ComponentChildren;
  extra?: ComponentChildren;
  class?: string;
  label?: string;
}) {
  const [prefix] = useState(() => `form${++nextForm}`);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const focusField = useRef<string | null>(null);
  const ref = useRef<HTMLFormElement>(null);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );

  useEffect(() => {
    if (!focusField.current) return;
    (ref.current?.querySelector(`[name="${focusField.current}"]`) as HTMLElement | null)?.focus();
    focusField.current = null;
  }, [errors]);

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    if (busy) return;
    // The browser's own checks (required, type=email, minlength), shown our way.
    const invalid = ref.current?.querySelector("input:invalid, select:invalid, textarea:invalid") as HTMLInputElement | null;
    if (invalid?.name) {
      focusField.current = invalid.name;
      setFormError(undefined);
      setErrors({ [invalid.name]: invalid.validationMessage });
      return;
    }
    setBusy(true);
    setErrors({});
    setFormError(undefined);
    try {
      await props.onSubmit();
    } catch (err) {
      if (!alive.current) return;
      const field = err instanceof UserError ? err.field : err instanceof ApiError ? props.fieldFor?.(err.code) : undefined;
      if (field) {
        focusField.current = field;
        setErrors({ [field]: describe(err) });
      } else {
        setFormError(describe(err));
      }
    } finally {
      if (alive.current) setBusy(false);
    }
  }

  function edited(e: Event): void {
    const name = (e.target as HTMLInputElement | null)?.name;
    if (name && errors[name]) setErrors(({ [name]: _, ...rest }) => rest);
  }

  return (
    <Ctx.Provider value={{ errors, prefix }}>
      <form ref={ref} class={props.class} onSubmit={submit} onInput={edited} aria-label={props.label} noValidate>
        {props.children}
        {formError ? (
          <div class="alert error" role="alert">
            {formError}
          </div>
        ) : null}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? (props.busyLabel ?? `${props.submitLabel}…`) : props.submitLabel}
          </button>
          {props.extra}
        </div>
      </form>
    </Ctx.Provider>
  );
}

/** Reads an input's value in an `onInput` handler. */
export function valueOf(e: Event): string {
  return (e.currentTarget as HTMLInputElement).value;
}
