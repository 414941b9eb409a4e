//! Which credential stores to try, in which order, and what to make of their answers. Pure:
//! the stores themselves are reached through the closure the caller passes, so that the
//! choice can be tested without a keyring.

use crate::config::CredentialStore::{self, Auto, File, Keyring, Keyutils, SecretService};

use super::CredentialError;

/// The stores to try when saving, best first, for a `credential_store` preference.
pub(super) fn save_order(preference: CredentialStore, linux: bool) -> Result<Vec<CredentialStore>, CredentialError> {
    Ok(match (preference, linux) {
        (Auto, true) => vec![SecretService, Keyutils, File],
        (Auto, false) => vec![Keyring, File],
        (Keyring, true) => vec![SecretService, Keyutils],
        (Keyring, false) => vec![Keyring],
        (SecretService | Keyutils, true) => vec![preference],
        (SecretService | Keyutils, false) => return Err(CredentialError::Unsupported(preference)),
        (File, _) => vec![File],
    })
}

/// The stores to look in when loading, for the location enrollment recorded (`Auto` when it
/// recorded none, as in a hand-written config).
pub(super) fn load_order(location: CredentialStore, linux: bool) -> Result<Vec<CredentialStore>, CredentialError> {
    match (location, linux) {
        // Agents from before Secret Service support recorded "keyring" for keyutils.
        (Keyring, true) => Ok(vec![Keyutils, SecretService]),
        (Auto, true) => Ok(vec![SecretService, Keyutils, File]),
        (Auto, false) => Ok(vec![Keyring, File]),
        _ => save_order(location, linux),
    }
}

/// The store that answered, and why the ones before it were passed over.
#[derive(Debug)]
pub(super) struct Chosen<T> {
    pub store: CredentialStore,
    pub value: T,
    pub passed_over: Vec<(CredentialStore, CredentialError)>,
}

/// Tries `attempt` on each store of `order` until one succeeds.
pub(super) fn first_that_works<T>(
    order: &[CredentialStore],
    mut attempt: impl FnMut(CredentialStore) -> Result<T, CredentialError>,
) -> Result<Chosen<T>, CredentialError> {
    let mut passed_over = Vec::new();
    for &store in order {
        match attempt(store) {
            Ok(value) => return Ok(Chosen { store, value, passed_over }),
            Err(e) => passed_over.push((store, e)),
        }
    }
    Err(combine(passed_over))
}

/// One error for a list of failures: the error itself when one store was tried; "missing"
/// when the stores that answered all said they have no credential (and the rest did not
/// answer); else every reason.
fn combine(mut failures: Vec<(CredentialStore, CredentialError)>) -> CredentialError {
    if failures.len() == 1
        && let Some((_, e)) = failures.pop()
    {
        return e;
    }
    let missing: Vec<CredentialStore> =
        failures.iter().filter(|(_, e)| matches!(e, CredentialError::Missing { .. })).map(|(s, _)| *s).collect();
    let rest_unavailable = failures
        .iter()
        .all(|(_, e)| matches!(e, CredentialError::Missing { .. } | CredentialError::Unavailable { .. }));
    if !missing.is_empty() && rest_unavailable {
        let places: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return CredentialError::Missing { place: places.join(" or "), reboot_hint: missing.contains(&Keyutils) };
    }
    let reasons: Vec<String> = failures.iter().map(|(s, e)| format!("{s}: {e}")).collect();
    CredentialError::NoStore(reasons.join("; "))
}

/// Whether the choice deserves the "no keyring, using a file" warning.
pub(super) fn fell_back_to_file<T>(preference: CredentialStore, chosen: &Chosen<T>) -> bool {
    preference == Auto && chosen.store == File && !chosen.passed_over.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(store: CredentialStore) -> CredentialError {
        CredentialError::Unavailable { store, reason: "does not answer".into() }
    }

    /// Runs the save choice for `preference` where only `answering` stores work; returns the
    /// store chosen (or the error) and every store tried, in order.
    fn choose(
        preference: CredentialStore,
        linux: bool,
        answering: &[CredentialStore],
    ) -> (Result<Chosen<()>, CredentialError>, Vec<CredentialStore>) {
        let mut tried = Vec::new();
        let result = save_order(preference, linux).and_then(|order| {
            first_that_works(&order, |s| {
                tried.push(s);
                if answering.contains(&s) { Ok(()) } else { Err(down(s)) }
            })
        });
        (result, tried)
    }

    #[test]
    fn auto_on_linux_prefers_the_secret_service() {
        let (chosen, tried) = choose(Auto, true, &[SecretService, Keyutils, File]);
        let chosen = chosen.expect("chosen");
        assert_eq!(chosen.store, SecretService);
        assert_eq!(tried, [SecretService]);
        assert!(!fell_back_to_file(Auto, &chosen));
    }

    #[test]
    fn auto_on_linux_falls_back_to_keyutils_then_a_file_with_a_warning() {
        let (chosen, tried) = choose(Auto, true, &[Keyutils, File]);
        let chosen = chosen.expect("chosen");
        assert_eq!((chosen.store, tried), (Keyutils, vec![SecretService, Keyutils]));
        assert_eq!(chosen.passed_over.len(), 1);
        assert!(!fell_back_to_file(Auto, &chosen));

        let (chosen, tried) = choose(Auto, true, &[File]);
        let chosen = chosen.expect("chosen");
        assert_eq!((chosen.store, tried), (File, vec![SecretService, Keyutils, File]));
        assert!(fell_back_to_file(Auto, &chosen), "a file chosen by auto is warned about");
    }

    #[test]
    fn keyring_on_linux_never_uses_a_file() {
        let (chosen, _) = choose(Keyring, true, &[Keyutils, File]);
        assert_eq!(chosen.expect("chosen").store, Keyutils);
        let (chosen, tried) = choose(Keyring, true, &[File]);
        assert_eq!(tried, [SecretService, Keyutils]);
        let err = chosen.expect_err("no keyring answered").to_string();
        assert!(err.contains("Secret Service") && err.contains("keyutils"), "{err}");
    }

    #[test]
    fn an_explicit_store_is_the_only_one_tried() {
        for store in [SecretService, Keyutils, File] {
            let (chosen, tried) = choose(store, true, &[]);
            assert_eq!(tried, [store]);
            assert!(matches!(chosen, Err(CredentialError::Unavailable { store: s, .. }) if s == store));
        }
        let (chosen, _) = choose(File, true, &[File]);
        assert!(!fell_back_to_file(File, &chosen.expect("chosen")), "an asked-for file is no fallback");
    }

    #[test]
    fn elsewhere_the_native_keyring_comes_first_and_linux_stores_are_refused() {
        let (chosen, tried) = choose(Auto, false, &[Keyring, File]);
        assert_eq!((chosen.expect("chosen").store, tried), (Keyring, vec![Keyring]));
        let (chosen, _) = choose(Auto, false, &[File]);
        assert!(fell_back_to_file(Auto, &chosen.expect("chosen")));
        for store in [SecretService, Keyutils] {
            let (chosen, tried) = choose(store, false, &[store]);
            assert!(matches!(chosen, Err(CredentialError::Unsupported(s)) if s == store));
            assert!(tried.is_empty());
        }
    }

    #[test]
    fn loading_looks_where_enrollment_recorded() {
        assert_eq!(load_order(SecretService, true).expect("order"), [SecretService]);
        assert_eq!(load_order(Keyutils, true).expect("order"), [Keyutils]);
        assert_eq!(load_order(File, true).expect("order"), [File]);
        assert_eq!(load_order(Keyring, true).expect("order"), [Keyutils, SecretService], "older agents' keyutils");
        assert_eq!(load_order(Auto, true).expect("order"), [SecretService, Keyutils, File]);
        assert_eq!(load_order(Keyring, false).expect("order"), [Keyring]);
    }

    #[test]
    fn missing_everywhere_is_reported_as_missing() {
        let missing = |store: CredentialStore| CredentialError::Missing {
            place: store.to_string(),
            reboot_hint: store == Keyutils,
        };
        let err =
            first_that_works::<()>(&[SecretService, Keyutils, File], |s| Err(missing(s))).expect_err("nothing found");
        let text = err.to_string();
        assert!(matches!(err, CredentialError::Missing { reboot_hint: true, .. }), "{text}");
        assert!(text.contains("Secret Service or kernel keyutils keyring or credential file"), "{text}");
        let err = first_that_works::<()>(&[Keyutils, SecretService], |s| {
            if s == Keyutils { Err(missing(s)) } else { Err(down(s)) }
        })
        .expect_err("nothing found");
        assert!(matches!(&err, CredentialError::Missing { place, .. } if place == "kernel keyutils keyring"), "{err}");
        let err = first_that_works::<()>(&[SecretService, Keyutils], |s| Err(down(s))).expect_err("none answered");
        assert!(matches!(err, CredentialError::NoStore(_)), "{err}");
    }
}
