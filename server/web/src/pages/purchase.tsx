// Buying a license without an account (when the server bills through Stripe): pick a
// product, give the address the key goes to, pay at Stripe; and the page Stripe returns to,
// which says the key was emailed.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call } from "../api";
import { useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";

function term(days: number): string {
  return days === 0 ? "perpetual" : days % 365 === 0 ? `${days / 365} year${days === 365 ? "" : "s"}` : `${days} days`;
}

export function PurchasePage() {
  useTitle("Buy a license");
  const { path } = useLocation();
  const products = useLoad(() => call("get", "/api/v1/billing/products"), []);
  const [price, setPrice] = useState("");
  const [email, setEmail] = useState("");
  if (path === "/purchase/complete") {
    return (
      <div class="card narrow" data-purchase="complete">
        <h1 tabIndex={-1}>Thank you</h1>
        <p>Your payment went through. Your license key is on its way to your email, with how to activate it on your server.</p>
      </div>
    );
  }
  const list = products.data ?? [];
  const chosen = price || list[0]?.price || "";
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Buy a license</h1>
      {products.error ? <ErrorBox error={products.error} /> : null}
      {!products.data ? (
        products.error ? null : <Loading />
      ) : list.length === 0 ? (
        <p>No licenses are for sale here.</p>
      ) : (
        <Form
          submitLabel="Continue to payment"
          busyLabel="Opening Stripe…"
          fieldFor={(code) => (code === "INVALID_EMAIL" ? "email" : undefined)}
          onSubmit={async () => {
            const { url } = await call("post", "/api/v1/billing/purchase", { body: { price: chosen, email: email.trim() } });
            window.location.assign(url);
          }}
        >
          <Field name="product" label="License">
            {(p) => (
              <select {...p} value={chosen} onChange={(e) => setPrice(valueOf(e))}>
                {list.map((x) => (
                  <option key={x.price} value={x.price}>
                    {x.plan} plan, {x.max_activations} server{x.max_activations === 1 ? "" : "s"}, {term(x.days)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field name="email" label="Email (the key is sent here)">
            {(p) => <input {...p} type="email" required autocomplete="email" value={email} onInput={(e) => setEmail(valueOf(e))} />}
          </Field>
        </Form>
      )}
    </div>
  );
}
