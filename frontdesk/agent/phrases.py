"""Recognising what is not a question for the knowledge: greetings and thanks, asking for a person, frustration."""

from __future__ import annotations

import re

_GREETING = (
    r"(hi|hii+|hello+|hey+|hiya|howdy|yo|greetings|good (morning|afternoon|evening|day)|morning|evening"
    r"|hi there|hello there|hey there|how are you|how are you doing|how's it going|what's up|sup)"
)
_THANKS = (
    r"(thanks?( you)?( so much| very much| a lot| again)?|thx|ty|tysm|cheers|much appreciated|appreciate it"
    r"|great|perfect|awesome|cool|ok(ay)?|got it|that helps|that helped|nice|wonderful|brilliant|excellent|sounds good"
    r"|bye|goodbye|good ?night|see you|see ya|have a (good|nice|great) (day|one|evening))"
)
_FILLER = r"(\s*(,|!|\.|\?|:\)|:-\)|😊|🙂|👍|friend|team|there|frontdesk|bot|so much)\s*)*"

SMALL_TALK_GREETING = re.compile(rf"^\s*{_GREETING}\b", re.IGNORECASE)
SMALL_TALK = re.compile(rf"^\s*({_GREETING}|{_THANKS})({_FILLER}\s*({_GREETING}|{_THANKS}))*{_FILLER}$", re.IGNORECASE)

_PERSON = (
    r"(human( being)?|person|agent|representative|rep|operator|real person|live agent|staff member|manager|supervisor"
    r"|customer (service|support)( agent| rep| representative)?|support team|team member|someone from (your|the) team"
    r"|somebody|someone)"
)
_LIVE = r"((a|an|the|your|some|one of your|a real|an actual|a live|real|actual|live)\s+)?"

HUMAN_REQUEST = re.compile(
    r"("
    r"\b(talk|speak|chat|connect me|transfer me|put me through|escalate this|escalate me)\s+(to|with)\s+"
    rf"{_LIVE}{_PERSON}\b"
    rf"|\b(need|want|get me|give me|can i have|can i get|i'd like)\s+{_LIVE}(human|real person|live agent|agent|"
    r"representative|operator|person to help)\b"
    rf"|^\s*{_LIVE}(human|real person|live agent|agent|representative|operator|person|customer service)"
    r"\s*(please|pls|plz|now)?\s*[.!?]*\s*$"
    r"|\b(agent|human|representative|operator)\s*(please|pls|plz|now)\b"
    r"|\bis (this|there) a (real )?(human|person)\b"
    r")",
    re.IGNORECASE,
)

FRUSTRATION = re.compile(
    r"\b("
    r"(this|you|that|this bot|this chat)( is|'re|re| are)? (so )?(useless|worthless|pointless|pathetic|a joke)"
    r"|(you're|you are|this is|that's|that is) not (helpful|helping)|(isn't|is not|aren't|are not) helping"
    r"|you('re| are) not (understanding|listening)|(doesn't|don't|didn't) understand (me|my question)"
    r"|waste of (my )?time|i'm fed up|i am fed up|sick of (this|you)|so frustrat(ed|ing)|i'm frustrated|i am frustrated"
    r"|(stupid|dumb|useless) (bot|robot|chatbot|machine)|worst (customer )?(service|experience)"
    r"|not what i asked|already told you|you keep (saying|repeating)"
    r")\b",
    re.IGNORECASE,
)

FOLLOW_UP = re.compile(
    r"^\s*(and|also|or|but|plus|so|what about|how about|what if|same for|same with|and for|and what about|is it|"
    r"does it|do they|can it|can i|is that|are they|what about for|how long|how much|which one|that one|those|it)\b",
    re.IGNORECASE,
)


def is_small_talk(text: str) -> bool:
    """A message made only of greetings, thanks or goodbyes: nothing to resolve or escalate."""
    return len(text) <= 80 and SMALL_TALK.match(text) is not None


def asks_for_person(text: str) -> bool:
    return HUMAN_REQUEST.search(text) is not None


def is_frustrated(text: str) -> bool:
    """Clear frustration with the agent itself (not an angry question about a fee: that one still gets answered)."""
    return FRUSTRATION.search(text) is not None


def looks_like_follow_up(text: str) -> bool:
    """Short messages that lean on the previous turn ("and for international orders?")."""
    words = text.split()
    return 0 < len(words) <= 8 and FOLLOW_UP.match(text) is not None


def follow_up_words(text: str) -> str:
    """What a follow-up adds to the previous turn: the message without its leading "and", "what about"…"""
    match = FOLLOW_UP.match(text)
    return text[match.end() :] if match else text
