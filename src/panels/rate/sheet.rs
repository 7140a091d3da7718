//! The Rate view's driver: the sheet being rated, kept in IndexedDB at every change (so a
//! reload resumes it), the sheets this browser holds, the window's keys while rating, and the
//! judge's verdicts once the rater is done. The rules of a sheet (keys, moves, export) are
//! `medhall_app::rating`'s.

use crate::state::{AppState, ask};
use crate::storage;
use crate::view_state::Tab;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medhall_app::protocol::{Reply, Request};
use medhall_app::rating::{RatingSheet, key_action};
use medhall_app::session::JudgedItem;
use wasm_bindgen::JsCast;
use web_sys::IdbDatabase;

/// The view's state, owned by the component and handed around as a `Copy` handle.
#[derive(Clone, Copy)]
pub(super) struct Rating {
    pub(super) state: AppState,
    /// The sheet on screen (rating, or finished and revealed).
    pub(super) sheet: RwSignal<Option<RatingSheet>>,
    /// Every sheet this browser keeps, for the list to resume from.
    pub(super) stored: RwSignal<Vec<RatingSheet>>,
    /// The judge's verdicts of a finished sheet's items.
    pub(super) judged: RwSignal<Option<Result<Vec<JudgedItem>, String>>>,
    db: RwSignal<Option<IdbDatabase>, LocalStorage>,
}

/// Now, as ISO 8601 (the time a score was given).
fn now() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}

impl Rating {
    pub(super) fn new(state: AppState) -> Self {
        let rating = Rating {
            state,
            sheet: RwSignal::new(None),
            stored: RwSignal::new(Vec::new()),
            judged: RwSignal::new(None),
            db: RwSignal::new_local(None),
        };
        spawn_local(async move {
            match storage::open_ratings().await {
                Ok(db) => {
                    rating.db.set(Some(db));
                    rating.reload_stored().await;
                }
                Err(error) => state.message(format!("Ratings: {error}")),
            }
        });
        rating
    }

    async fn reload_stored(self) {
        let Some(db) = self.db.get_untracked() else {
            return;
        };
        match storage::all_sheets(&db).await {
            Ok((mut sheets, unreadable)) => {
                if !unreadable.is_empty() {
                    self.state.message(format!(
                        "Ratings: {} stored sheet(s) could not be read and are not listed: {}",
                        unreadable.len(),
                        unreadable.join(", ")
                    ));
                }
                sheets.sort_by(|a, b| a.rater.cmp(&b.rater).then(a.plan.id.cmp(&b.plan.id)));
                self.stored.set(sheets);
            }
            Err(error) => self.state.message(format!("Ratings: {error}")),
        }
    }

    /// Keeps the sheet on screen (in IndexedDB and in the list).
    fn save(self) {
        let Some(sheet) = self.sheet.get_untracked() else {
            return;
        };
        self.stored.update(
            |list| match list.iter_mut().find(|s| s.id() == sheet.id()) {
                Some(kept) => *kept = sheet.clone(),
                None => list.push(sheet.clone()),
            },
        );
        let Some(db) = self.db.get_untracked() else {
            return;
        };
        let state = self.state;
        spawn_local(async move {
            if let Err(error) = storage::put_sheet(&db, &sheet).await {
                state.message(format!(
                    "Ratings: not kept in this browser ({error}); export them before closing the page"
                ));
            }
        });
    }

    /// Opens `sheet` (a new one, or one from the list: a kept sheet of the same plan and rater
    /// is resumed rather than started again).
    pub(super) fn open(self, sheet: RatingSheet) {
        let kept = self
            .stored
            .with_untracked(|list| list.iter().find(|s| s.id() == sheet.id()).cloned());
        let sheet = kept.unwrap_or(sheet);
        let finished = sheet.finished;
        self.sheet.set(Some(sheet));
        self.judged.set(None);
        self.save();
        if finished {
            self.reveal();
        }
    }

    /// Changes the sheet on screen and keeps it.
    pub(super) fn change(self, f: impl FnOnce(&mut RatingSheet, &str)) {
        let time = now();
        let mut changed = false;
        self.sheet.update(|sheet| {
            if let Some(sheet) = sheet.as_mut()
                && !sheet.finished
            {
                f(sheet, &time);
                changed = true;
            }
        });
        if changed {
            self.save();
        }
    }

    /// The rater is done: the sheet is closed to changes and the judge's scores and the
    /// answers' runs are shown.
    pub(super) fn finish(self) {
        let mut done = false;
        self.sheet.update(|sheet| {
            if let Some(sheet) = sheet.as_mut()
                && sheet.all_complete()
            {
                sheet.finished = true;
                done = true;
            }
        });
        if done {
            self.save();
            self.reveal();
        }
    }

    fn reveal(self) {
        let Some(keys) = self.sheet.with_untracked(|s| {
            s.as_ref()
                .map(|s| s.plan.items.iter().map(|i| i.key()).collect())
        }) else {
            return;
        };
        let judged = self.judged;
        ask(
            move |id| Request::JudgedItems { id, keys },
            move |reply| match reply {
                Reply::JudgedItems { items } => judged.set(Some(Ok(items))),
                Reply::Error { message } => judged.set(Some(Err(message))),
                _ => {}
            },
        );
    }

    pub(super) fn close(self) {
        self.sheet.set(None);
        self.judged.set(None);
    }

    pub(super) fn delete(self, id: String) {
        self.stored.update(|list| list.retain(|s| s.id() != id));
        if self
            .sheet
            .with_untracked(|s| s.as_ref().is_some_and(|s| s.id() == id))
        {
            self.close();
        }
        let Some(db) = self.db.get_untracked() else {
            return;
        };
        let state = self.state;
        spawn_local(async move {
            if let Err(error) = storage::delete_sheet(&db, &id).await {
                state.message(format!("Ratings: could not delete the sheet: {error}"));
            }
        });
    }

    /// A key pressed anywhere in the page while a sheet is being rated on the Rate view: the
    /// sheet's keys, except where the key belongs to a field (typing a note) or to a focused
    /// button (Enter and Space press it).
    pub(super) fn on_key(self, ev: &web_sys::KeyboardEvent) {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || ev.default_prevented() {
            return;
        }
        if self.state.view.with_untracked(|v| v.tab != Tab::Rate)
            || !self
                .sheet
                .with_untracked(|s| s.as_ref().is_some_and(|s| !s.finished))
        {
            return;
        }
        let target = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .map(|e| e.tag_name().to_ascii_lowercase())
            .unwrap_or_default();
        let key = ev.key();
        if matches!(target.as_str(), "input" | "textarea" | "select")
            || (matches!(target.as_str(), "button" | "a" | "summary")
                && matches!(key.as_str(), "Enter" | " "))
        {
            return;
        }
        let Some(action) = key_action(&key) else {
            return;
        };
        ev.prevent_default();
        self.change(|sheet, time| {
            sheet.apply(action, time);
        });
    }
}
