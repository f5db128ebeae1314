//! The rules for the user's own calls about their bindings (Rename, Pause, Resume, reading
//! Activity, Disconnect all), decided before any call: the worker's `user_change` and
//! `pairing::disconnect_all` only carry them out.

use latch_wire::stored::StoredBinding;

use super::errors::CommandError;

/// Whether a call changes the binding at the relay or only reads what the relay keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Write,
    Read,
}

/// Refused before any call: the organization's binding can't be changed (its administrator
/// manages it; its log can be read), one that needs pairing again can do nothing, and a
/// paused one is not read (a read could refresh the tokens a pause keeps as they were;
/// Resume, a change, goes on).
pub fn gate(binding: &StoredBinding, what: Change) -> Result<(), CommandError> {
    if what == Change::Write && binding.managed {
        return Err(CommandError::ManagedBinding);
    }
    if binding.needs_repair.is_some() {
        return Err(CommandError::NeedsRepair);
    }
    if what == Change::Read && binding.paused {
        return Err(CommandError::Paused);
    }
    Ok(())
}

/// The bindings "Disconnect all" disconnects: all but the organization's.
pub fn disconnect_all_targets(bindings: &[StoredBinding]) -> impl Iterator<Item = &str> {
    bindings.iter().filter(|b| !b.managed).map(|b| b.binding_id.as_str())
}

/// "Disconnect all"'s answer from each disconnect's: a binding already gone (the app revoked
/// it meanwhile) is no failure; otherwise the first failure, though the rest went on.
pub fn disconnect_all_outcome(each: impl IntoIterator<Item = Result<(), CommandError>>) -> Result<(), CommandError> {
    let mut first_failure = None;
    for outcome in each {
        match outcome {
            Ok(()) | Err(CommandError::UnknownBinding) => {}
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use latch_wire::stored::StoredBinding;
    use latch_wire::testing::{ms, test_grant};

    use super::*;

    fn binding(id: &str, change: impl FnOnce(&mut StoredBinding)) -> StoredBinding {
        let mut b = StoredBinding::from_grant(test_grant(), ms(1));
        b.binding_id = id.into();
        change(&mut b);
        b
    }

    #[test]
    fn a_paused_binding_is_changed_but_not_read() {
        let paused = binding("b", |b| b.paused = true);
        assert_eq!(gate(&paused, Change::Read), Err(CommandError::Paused));
        assert_eq!(gate(&paused, Change::Write), Ok(()));
    }

    #[test]
    fn the_organizations_binding_is_read_but_not_changed() {
        let managed = binding("b", |b| b.managed = true);
        assert_eq!(gate(&managed, Change::Read), Ok(()));
        assert_eq!(gate(&managed, Change::Write), Err(CommandError::ManagedBinding));
    }

    #[test]
    fn a_binding_needing_pairing_again_is_neither() {
        let broken = binding("b", |b| b.needs_repair = Some("binding_idle:7776000".into()));
        for what in [Change::Read, Change::Write] {
            assert_eq!(gate(&broken, what), Err(CommandError::NeedsRepair));
        }
        assert_eq!(gate(&binding("b", |_| {}), Change::Read), Ok(()));
    }

    #[test]
    fn disconnect_all_leaves_the_organizations_and_reports_the_first_real_failure() {
        let all = [binding("a", |_| {}), binding("m", |b| b.managed = true), binding("c", |_| {})];
        assert_eq!(disconnect_all_targets(&all).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(disconnect_all_outcome([Ok(()), Err(CommandError::UnknownBinding), Ok(())]), Ok(()));
        assert_eq!(
            disconnect_all_outcome([
                Err(CommandError::UnknownBinding),
                Err(CommandError::RelayUnreachable),
                Ok(()),
                Err(CommandError::StorageUnavailable),
            ]),
            Err(CommandError::RelayUnreachable)
        );
    }
}
