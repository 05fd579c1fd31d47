//! Who may change whose two-factor setting, and what a user's effective state is.
//! Pure functions: the UI uses them to disable a switch, the server to refuse the change.

use serde::{Deserialize, Serialize};

use super::Role;

/// Where a user's 2FA setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// Set when the owner required 2FA for the whole account.
    Account,
    /// Set by the owner for this user (an exception either way).
    Owner,
    /// Set by the user themself in Profile.
    SelfSet,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Account => "account",
            Source::Owner => "owner",
            Source::SelfSet => "self",
        }
    }
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "account" => Some(Source::Account),
            "owner" => Some(Source::Owner),
            "self" => Some(Source::SelfSet),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Source::Account => "account setting",
            Source::Owner => "owner",
            Source::SelfSet => "self",
        }
    }
}

/// A user's stored 2FA setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub on: bool,
    /// `None` for a user nobody has ever set (off by default).
    pub source: Option<Source>,
}

impl Setting {
    /// Exempt: the account requires 2FA and the owner turned it off for this user, who signs
    /// in with only a password. For their own switch the account counts as not requiring it
    /// (seed rule 7): they may turn 2FA on, and the requirement holds them once they have.
    pub fn is_exempt(self, account_required: bool) -> bool {
        account_required && !self.on && self.source == Some(Source::Owner)
    }
}

/// Who is asking to change the setting of whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub role: Role,
    pub is_target: bool,
}

/// Why a change is refused, in the words the user sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The account requires 2FA; only the owner can make exceptions.
    RequiredByAccount,
    /// The owner turned it on for this admin.
    SetByOwner,
    /// The owner cannot exempt themself.
    OwnerCannotExemptSelf,
    /// Admins manage only their own setting.
    NotYours,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::RequiredByAccount => {
                "Two-factor authentication is required for your account. Contact your account owner to turn it off."
            }
            Refusal::SetByOwner => {
                "Your account owner turned on two-factor authentication for you. Contact your account owner to turn it off."
            }
            Refusal::OwnerCannotExemptSelf => {
                "As the account owner you cannot turn off two-factor authentication while the account requires it."
            }
            Refusal::NotYours => "Only the account owner can change another user's two-factor authentication.",
        }
    }
}

/// May `actor` set the target's 2FA to `on`? `account_required` is the account setting.
pub fn may_set(
    actor: Actor,
    account_required: bool,
    current: Setting,
    on: bool,
) -> Result<(), Refusal> {
    match (actor.role, actor.is_target) {
        (Role::Admin, false) => Err(Refusal::NotYours),
        // The owner may make any exception for others (seed rule 6).
        (Role::Owner, false) => Ok(()),
        (Role::Owner, true) => {
            if !on && account_required {
                Err(Refusal::OwnerCannotExemptSelf)
            } else {
                Ok(())
            }
        }
        (Role::Admin, true) => {
            if account_required && !current.is_exempt(account_required) {
                // Seed rule 8: the Profile switch is disabled while the account requires it.
                Err(Refusal::RequiredByAccount)
            } else if !on && current.on && current.source == Some(Source::Owner) {
                // Seed rule 7: off again, unless the owner turned it on.
                Err(Refusal::SetByOwner)
            } else {
                Ok(())
            }
        }
    }
}

/// Whether the switch a user sees for themself in Profile can be flipped, and if not, why.
pub fn own_switch(role: Role, account_required: bool, current: Setting) -> Result<(), Refusal> {
    may_set(
        Actor {
            role,
            is_target: true,
        },
        account_required,
        current,
        !current.on,
    )
}

/// What the user's own switch says under it: why it cannot be flipped, or that they are exempt.
pub fn own_note(role: Role, account_required: bool, current: Setting) -> Option<&'static str> {
    match own_switch(role, account_required, current) {
        Err(refusal) => Some(refusal.message()),
        Ok(()) if current.is_exempt(account_required) => Some(
            "Your account owner exempted you from the account's requirement: you sign in with \
             only a password. You can still turn two-factor authentication on for yourself.",
        ),
        Ok(()) => None,
    }
}

/// The source a change by `actor` records.
pub fn source_of(actor: Actor) -> Source {
    if actor.is_target {
        Source::SelfSet
    } else {
        Source::Owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: [Option<Source>; 4] = [
        None,
        Some(Source::Account),
        Some(Source::Owner),
        Some(Source::SelfSet),
    ];

    fn actors() -> [(Actor, &'static str); 4] {
        [
            (
                Actor {
                    role: Role::Owner,
                    is_target: true,
                },
                "owner-self",
            ),
            (
                Actor {
                    role: Role::Owner,
                    is_target: false,
                },
                "owner-other",
            ),
            (
                Actor {
                    role: Role::Admin,
                    is_target: true,
                },
                "admin-self",
            ),
            (
                Actor {
                    role: Role::Admin,
                    is_target: false,
                },
                "admin-other",
            ),
        ]
    }

    /// The whole matrix: account on/off × stored state × source × actor × wanted value.
    #[test]
    fn matrix() {
        for required in [false, true] {
            for current_on in [false, true] {
                for source in SOURCES {
                    let current = Setting {
                        on: current_on,
                        source,
                    };
                    for (actor, name) in actors() {
                        for on in [false, true] {
                            let got = may_set(actor, required, current, on);
                            let want = match name {
                                "owner-other" => Ok(()),
                                "admin-other" => Err(Refusal::NotYours),
                                "owner-self" if !on && required => {
                                    Err(Refusal::OwnerCannotExemptSelf)
                                }
                                "owner-self" => Ok(()),
                                // Exempt by the owner: as if the account were off.
                                "admin-self"
                                    if required
                                        && (current_on || source != Some(Source::Owner)) =>
                                {
                                    Err(Refusal::RequiredByAccount)
                                }
                                "admin-self"
                                    if !on && current_on && source == Some(Source::Owner) =>
                                {
                                    Err(Refusal::SetByOwner)
                                }
                                "admin-self" => Ok(()),
                                _ => unreachable!(),
                            };
                            assert_eq!(
                                got, want,
                                "required={required} current={current:?} actor={name} on={on}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn seed_rules_in_words() {
        let off = Setting {
            on: false,
            source: None,
        };
        let by_owner = Setting {
            on: true,
            source: Some(Source::Owner),
        };
        let by_self = Setting {
            on: true,
            source: Some(Source::SelfSet),
        };
        // Rule 7: admin turns it on and off again while the account does not require it.
        assert!(own_switch(Role::Admin, false, off).is_ok());
        assert!(own_switch(Role::Admin, false, by_self).is_ok());
        // ... unless the owner turned it on.
        assert_eq!(
            own_switch(Role::Admin, false, by_owner),
            Err(Refusal::SetByOwner)
        );
        // Rule 8: disabled while required, and the note says to contact the owner.
        let refusal = own_switch(Role::Admin, true, by_self).unwrap_err();
        assert!(
            refusal.message().contains("contact your account owner")
                || refusal.message().contains("Contact your account owner")
        );
        // Exempt by the owner: a true note, and they may turn it on for themself.
        let exempt = Setting {
            on: false,
            source: Some(Source::Owner),
        };
        assert!(exempt.is_exempt(true) && !exempt.is_exempt(false));
        assert!(own_switch(Role::Admin, true, exempt).is_ok());
        assert!(own_note(Role::Admin, true, exempt)
            .unwrap()
            .contains("exempted you"));
        assert_eq!(own_note(Role::Admin, false, exempt), None);
        // Rule 6: the owner cannot exempt themself.
        assert_eq!(
            own_switch(Role::Owner, true, by_self),
            Err(Refusal::OwnerCannotExemptSelf)
        );
        assert_eq!(
            source_of(Actor {
                role: Role::Owner,
                is_target: false
            }),
            Source::Owner
        );
        assert_eq!(
            source_of(Actor {
                role: Role::Admin,
                is_target: true
            }),
            Source::SelfSet
        );
    }

    #[test]
    fn source_names_round_trip() {
        for s in [Source::Account, Source::Owner, Source::SelfSet] {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        assert_eq!(Source::parse("nobody"), None);
    }
}
