"""The dashboard: a Textual app over a :class:`~exphil.tui.DashboardSource`.

A Textual worker reads ``source.items()`` and folds them into a
:class:`~exphil.tui.DashboardState`; a timer redraws, at most :attr:`DashboardApp.
refresh_interval` apart, the status line and the visible tab only (a hidden tab is redrawn
when it is shown). Another timer re-judges staleness every second. The app never closes the
source: its owner does (after a detach, ``exphil selfplay`` goes on with it, headless).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import anyio
from rich.text import Text
from textual import on, work
from textual.app import App, AutopilotCallbackType, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static, TabbedContent, TabPane

from exphil.tui._panels import (
    EventsPanel,
    LeaguePanel,
    NodesPanel,
    Panel,
    StatusLine,
    TrainingPanel,
)
from exphil.tui._source import DashboardSource
from exphil.tui._state import DashboardState
from exphil.wire import ControlReply, Event

__all__ = ["DashboardApp", "HelpScreen", "QuitScreen"]

Result = Literal["stop", "detach"]
TABS = ("training", "league", "nodes", "events")

HELP = """\
Keys

  1 2 3 4      Training, League, Nodes, Events (or click a tab; ←/→ on the tab bar)
  s            ask the learner for a checkpoint now (after the current update)
  q            stop the run, or detach (the run goes on), or cancel
  ?            this help
  escape       close a dialog

Connection (top right): "connecting…" (with why), "live", "stale for N s" (live, but no
metrics for a while), "finished" (the run is over).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(HELP), id="help-text")
            yield Button("Close", id="close", variant="primary")

    @on(Button.Pressed, "#close")
    def pressed_close(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str]):
    """Stop the run, detach, or cancel. "Stop" waits for the learner's reply (shown here);
    a refusal or a failure is shown and the dialog stays."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("d", "detach", "Detach"),
    ]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 72; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    QuitScreen #quit-buttons { height: auto; margin-top: 1; }
    QuitScreen Button { margin-right: 2; }
    QuitScreen #quit-reply { margin-top: 1; height: auto; }
    """

    def __init__(self, embedded: bool) -> None:
        super().__init__()
        self.embedded = embedded

    def compose(self) -> ComposeResult:
        goes_on = (
            "Detach: the run goes on without this view (headless)."
            if self.embedded
            else "Detach: close this dashboard; the run goes on."
        )
        with Vertical():
            yield Static(Text("Stop the run: a checkpoint, then the workers stop.\n" + goes_on))
            with Horizontal(id="quit-buttons"):
                yield Button("Stop the run", id="stop", variant="error")
                yield Button("Detach", id="detach", variant="primary")
                yield Button("Cancel", id="cancel")
            yield Static("", id="quit-reply")

    def show_reply(self, text: str, ok: bool) -> None:
        self.query_one("#quit-reply", Static).update(Text(text, style="green" if ok else "red"))

    def set_busy(self, busy: bool) -> None:
        for button in self.query(Button):
            button.disabled = busy

    @on(Button.Pressed, "#stop")
    def pressed_stop(self) -> None:
        self.set_busy(True)
        self.show_reply("asking the learner to stop…", True)
        app = self.app
        assert isinstance(app, DashboardApp)
        app.stop_run(self)

    @on(Button.Pressed, "#detach")
    def pressed_detach(self) -> None:
        self.dismiss("detach")

    @on(Button.Pressed, "#cancel")
    def pressed_cancel(self) -> None:
        self.dismiss("cancel")

    def action_cancel(self) -> None:
        self.dismiss("cancel")

    def action_detach(self) -> None:
        self.dismiss("detach")


class DashboardApp(App[str]):
    """The dashboard over ``source``. ``stale_after``: seconds without Metrics (while live)
    before the status line says "stale for N s"; ``clock``: seconds for that judgement
    (tests freeze it). ``run()`` / ``run_async()`` return "stop" (the learner was told to
    stop) or "detach" (the run goes on)."""

    TITLE = "ExPhil dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_dialog", "Quit"),
        Binding("ctrl+c", "quit_dialog", "Quit", show=False, priority=True),
        Binding("s", "checkpoint", "Checkpoint"),
        Binding("1", "show_tab('training')", "Training"),
        Binding("2", "show_tab('league')", "League"),
        Binding("3", "show_tab('nodes')", "Nodes"),
        Binding("4", "show_tab('events')", "Events"),
        Binding("question_mark", "help", "Help"),
    ]
    CSS = """
    TabbedContent { height: 1fr; }
    TabPane { padding: 1 1 0 1; }
    """

    #: seconds between two redraws (at most); the staleness timer's period
    refresh_interval: float = 0.25
    status_interval: float = 1.0
    #: a control call that takes longer fails
    control_timeout: float = 15.0
    #: how long "Stop the run" shows the learner's reply before the app exits
    stop_exit_delay: float = 1.0

    def __init__(
        self,
        source: DashboardSource,
        *,
        stale_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.source = source
        self.stale_after = stale_after
        self.state = DashboardState(clock=clock)
        self.stop_reply: ControlReply | None = None
        self._dirty: set[str] = set(TABS)
        # kept, not queried: while a dialog is up, queries go to the dialog's screen
        self.status_line = StatusLine(id="status")
        self.tabs = TabbedContent(initial="training")
        self.panels: dict[str, Panel] = {
            "training": TrainingPanel(id="panel-training"),
            "league": LeaguePanel(id="panel-league"),
            "nodes": NodesPanel(id="panel-nodes"),
            "events": EventsPanel(id="panel-events"),
        }

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.status_line
        with self.tabs:
            for tab, title in zip(TABS, ("Training", "League", "Nodes", "Events"), strict=True):
                with TabPane(f"{TABS.index(tab) + 1} {title}", id=tab):
                    yield self.panels[tab]
        yield Footer()

    def on_mount(self) -> None:
        self._show_status()
        self.set_interval(self.refresh_interval, self._tick, name="redraw")
        self.set_interval(self.status_interval, self._show_status, name="staleness")
        self.run_worker(self._consume(), name="source", group="source", exit_on_error=False)

    def panel(self, tab: str) -> Panel:
        return self.panels[tab]

    # --- the source -----------------------------------------------------------------------

    async def _consume(self) -> None:
        detail = "the source ended"
        try:
            async for item in self.source.items():
                self.state.fold(item)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as e:
            detail = f"the source failed: {type(e).__name__}: {e}"
            self._note("error", detail)
        self.state.end(detail)

    # --- redrawing ------------------------------------------------------------------------

    def _tick(self) -> None:
        changes = self.state.take_changes()
        if changes.metrics:
            self._dirty |= {"training", "league", "nodes"}
        if changes.history:
            self._dirty |= {"training", "league"}
        if changes.events:
            self._dirty.add("events")
        if changes.any():
            self._show_status()
        self._redraw_visible()

    def _redraw_visible(self) -> None:
        tab = self.tabs.active
        if tab in self._dirty and self.panels[tab].is_attached:
            self._dirty.discard(tab)
            self.panel(tab).redraw(self.state)

    def _show_status(self) -> None:
        if self.status_line.is_attached:
            summary = self.state.summary(self.stale_after, label=self.source.label)
            self.status_line.show(summary)

    def on_resize(self) -> None:
        self._dirty |= {"training", "league"}  # the sparklines' widths
        self.call_after_refresh(self._redraw_visible)

    @on(TabbedContent.TabActivated)
    def tab_shown(self) -> None:
        self.call_after_refresh(self._redraw_visible)

    # --- actions --------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.tabs.active = tab

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_dialog(self) -> None:
        if isinstance(self.screen, QuitScreen):
            return
        if self.state.summary(self.stale_after).link in ("finished", "ended"):
            self.exit("detach")  # nothing left to stop: close at once
            return

        def closed(result: str | None) -> None:
            if result in ("stop", "detach"):
                self.exit(result)

        self.push_screen(QuitScreen(self.source.embedded), closed)

    async def action_quit(self) -> None:  # ctrl+q: the same dialog
        self.action_quit_dialog()

    def action_checkpoint(self) -> None:
        self._checkpoint()

    @work(group="control", exit_on_error=False)
    async def _checkpoint(self) -> None:
        self.notify("asking the learner for a checkpoint…", markup=False, timeout=2)
        reply = await self.control("checkpoint")
        self.notify(
            reply.text,
            title="checkpoint" if reply.ok else "checkpoint failed",
            severity="information" if reply.ok else "error",
            markup=False,
        )

    @work(group="control", exit_on_error=False)
    async def stop_run(self, dialog: QuitScreen) -> None:
        """ "Stop the run": ask the learner; on success show its reply, then exit "stop"."""
        reply = await self.control("stop")
        self.stop_reply = reply if reply.ok else None
        if dialog.is_attached:
            dialog.show_reply(reply.text, reply.ok)
        if not reply.ok:
            dialog.set_busy(False)
            return
        await anyio.sleep(self.stop_exit_delay)
        if dialog.is_attached:
            dialog.dismiss("stop")
        else:
            self.exit("stop")

    async def control(self, action: Literal["checkpoint", "stop"]) -> ControlReply:
        """``source.control(action)``, never raising: a failure or a timeout becomes a
        refusal. Either way the reply goes to the event log."""
        try:
            with anyio.fail_after(self.control_timeout):
                reply = await self.source.control(action)
        except anyio.get_cancelled_exc_class():
            raise
        except TimeoutError:
            reply = ControlReply(ok=False, text=f"{action}: no answer in {self.control_timeout} s")
        except Exception as e:
            reply = ControlReply(ok=False, text=f"{action} failed: {type(e).__name__}: {e}")
        else:
            if not reply.ok:
                reply = ControlReply(ok=False, text=f"{action} refused: {reply.text}")
        self._note("control" if reply.ok else "error", reply.text)
        return reply

    def _note(self, kind: str, text: str) -> None:
        self.state.add_event(Event(time=time.time(), kind=kind, text=text))

    # --- running --------------------------------------------------------------------------

    async def run_async(
        self,
        *,
        headless: bool = False,
        inline: bool = False,
        inline_no_clear: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
        auto_pilot: AutopilotCallbackType | None = None,
    ) -> str:
        """Run until the user stops the run or detaches: "stop" or "detach" ("detach" also
        when the app ends without a result; a value given to :meth:`exit` is returned)."""
        result = await super().run_async(
            headless=headless,
            inline=inline,
            inline_no_clear=inline_no_clear,
            mouse=mouse,
            size=size,
            auto_pilot=auto_pilot,
        )
        return "detach" if result is None else result

    def run(
        self,
        *,
        headless: bool = False,
        inline: bool = False,
        inline_no_clear: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
        auto_pilot: AutopilotCallbackType | None = None,
        loop: Any = None,
    ) -> str:
        """:meth:`run_async` in a new event loop (Textual's): "stop" or "detach"."""
        result = super().run(
            headless=headless,
            inline=inline,
            inline_no_clear=inline_no_clear,
            mouse=mouse,
            size=size,
            auto_pilot=auto_pilot,
            loop=loop,
        )
        return "detach" if result is None else result
