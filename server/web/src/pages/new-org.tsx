// Create a team org: you become its owner and land on its (empty) sessions page, ready to add
// members and machines.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call } from "../api";
import { loadMe, orgPath } from "../state/auth";
import { useTitle } from "../state/context";
import { PageHead } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";
import { toast } from "../ui/toast";

export function NewOrgPage() {
  useTitle("Create a team org");
  const { route } = useLocation();
  const [name, setName] = useState("");
  return (
    <section>
      <PageHead title="Create a team org" sub="A team org has its own machines, sessions, members and settings. You become its owner." />
      <Form
        submitLabel="Create org"
        busyLabel="Creating…"
        fieldFor={(code) => (code === "INVALID_NAME" ? "name" : undefined)}
        onSubmit={async () => {
          const org = await call("post", "/api/v1/orgs", { body: { name: name.trim() } });
          await loadMe();
          toast(`${org.name} was created. Add members and machines next.`);
          route(orgPath(org, "/members"));
        }}
      >
        <Field name="name" label="Org name">
          {(p) => <input {...p} required maxLength={100} placeholder="e.g. Platform team" value={name} onInput={(e) => setName(valueOf(e))} />}
        </Field>
      </Form>
    </section>
  );
}
