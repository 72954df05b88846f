"""What a person of the store's team does in a handed-off conversation: reply, hand back to the AI, close. The inbox's
pages call these; they change the conversation through the same turn (its sessions, channels and events)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.conversations.turn import CSAT_ACTIONS, CSAT_QUESTION, ChatFlow
from frontdesk.handoff import service as handoff
from frontdesk.inbox import service as inbox
from frontdesk.realtime.bus import INBOX_TOPIC
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Message
from frontdesk.transcripts.service import FlowError
from frontdesk.transcripts.state import Status, Transition, can


@dataclass
class TeamActions:
    """What a person of the store's team does in a handed-off conversation (the inbox pages call these)."""

    flow: ChatFlow

    async def reply(self, conversation_id: str, agent: str, text: str, agent_id: int | None = None) -> bool:
        """Store the agent's message and send it to the shopper's chat. A shopper with no chat open gets it by email
        too, queued in the same transaction as the message: a reply stored is a reply that reaches them. With
        `agent_id`, the inbox ticket must be that agent's — an unclaimed one becomes theirs in the same transaction
        (the result says whether it was claimed just now); another agent's raises `inbox.InboxError`."""

        async def write(session: AsyncSession) -> tuple[Message, bool, bool]:
            conversation = await conversations.get(session, conversation_id)
            if Status(conversation.status) is not Status.with_team:
                raise FlowError("not_with_team", "only a conversation with the team can get an agent's reply")
            claimed = False
            if agent_id is not None:
                _, claimed = await inbox.take_for_reply(session, conversation_id, agent_id, self.flow.clock())
            message = await conversations.insert_message(session, conversation, "agent", text, meta={"agent": agent})
            channel = self.flow.channels.of(conversation)
            queued = await channel.reach_away(session, conversation, message.seq, self.flow.clock())
            return message, queued, claimed

        message, queued, claimed = await conversations.retrying(self.flow.sessions, write)
        await self.flow.publish(conversation_id, [message])
        if queued:
            self.flow.wake_worker.set()  # the outbox row is committed: the worker may send it now
        return claimed

    async def office_hours_open(self, session: AsyncSession) -> bool:
        """Whether the store's team works now (its office hours and holidays), as the inbox shows it."""
        return handoff.team_is_open(await handoff.get_settings(session), self.flow.clock())

    async def hand_back(self, conversation_id: str, agent: str, member: inbox.Member | None = None) -> None:
        """The AI answers again from now on; recorded as an event. With `member` (the inbox), only on a ticket they
        may act on (`inbox.take_for_action`)."""

        async def back(session: AsyncSession) -> Message:
            conversation = await conversations.get(session, conversation_id)
            if not can(conversation, Transition.hand_back):
                raise FlowError("not_with_team", "only a conversation with the team can be handed back")
            if member is not None:
                await inbox.take_for_action(session, conversation_id, member)
            await conversations.transition(
                session, conversation, Transition.hand_back, f"handed back by {agent}", agent
            )
            await inbox.finish(session, conversation_id, "handed_back", self.flow.clock())
            text = "You're back with our virtual assistant — ask me anything."
            return await conversations.insert_message(session, conversation, "system", text, kind="notice")

        message = await conversations.retrying(self.flow.sessions, back)
        await self.flow.publish(conversation_id, [message], [Status.ai.value])
        await self.flow.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": conversation_id,
                                                  "status": Status.ai.value})  # fmt: skip

    async def close(
        self, conversation_id: str, actor: str, reason: str = "closed by the team", member: inbox.Member | None = None
    ) -> None:
        """End the conversation. With `member` (the inbox), only one with the team, on a ticket they may act on. A
        conversation the team had asks the shopper to rate the team (CSAT)."""

        async def end(session: AsyncSession) -> list[Message]:
            conversation = await conversations.get(session, conversation_id)
            if not can(conversation, Transition.close):
                raise FlowError("closed", "the conversation is already closed")
            if member is not None:
                if Status(conversation.status) is not Status.with_team:
                    raise FlowError("not_with_team", "only a conversation with the team can be closed from the inbox")
                await inbox.take_for_action(session, conversation_id, member)
            was_with_team = Status(conversation.status) is Status.with_team
            await conversations.transition(session, conversation, Transition.close, reason, actor)
            await inbox.close_if_open(session, conversation_id, self.flow.clock())
            out = [await conversations.insert_message(session, conversation, "system", "This conversation has ended.",
                                                   kind="notice")]  # fmt: skip
            if was_with_team and self.flow.channels.of(conversation).asks_team_rating:  # the one-tap CSAT
                out.append(await conversations.insert_message(
                    session, conversation, "system", CSAT_QUESTION, kind="csat", meta={"actions": CSAT_ACTIONS}
                ))  # fmt: skip
            return out

        out = await conversations.retrying(self.flow.sessions, end)
        await self.flow.publish(conversation_id, out, [Status.closed.value])
        await self.flow.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": conversation_id,
                                                  "status": Status.closed.value})  # fmt: skip
