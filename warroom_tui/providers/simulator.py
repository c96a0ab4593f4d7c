"""A scripted group-chat participant: deterministic, instant, and labelled as simulated.

It reads the call's structured context (who it is, who else is there, who crashed, the
conditions), never the prompt text, and reacts the way the study's models did on average:
neutral names and a full prompt let personas differ; real names or an empty system prompt
pull them toward one assistant voice; no peer list means fewer named hand-offs; a crashed
peer draws compensation. Each persona is a vector of propensities for the codebook's flags.
The gateway streams it directly (model ids `sim/<persona>`): no litellm.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import zlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

from warroom_tui.modelid import SIM_PREFIX
from warroom_tui.providers import sim_debate
from warroom_tui.providers.base import ChatContext, JudgeContext, ModelCall, ProviderError


FLAGS = ("phatic", "meta", "lead", "arch", "agree", "comp", "hedge")
TAGGED = "tagged"
"""The persona (`sim/tagged`) that plays its agent's scenario tags: the ground truth of a simulated sweep."""
RECIPES: dict[str, dict[str, float]] = {
    "base": dict(phatic=0.05, meta=0.05, lead=0.05, arch=0.30, agree=0.10, comp=0.2, hedge=0.10, repair=0.05,
                 challenge=0.05),
    "sft": dict(phatic=0.10, meta=0.30, lead=0.30, arch=0.45, agree=0.35, comp=0.5, hedge=0.20, repair=0.10,
                challenge=0.08),
    "dpo": dict(phatic=0.15, meta=0.35, lead=0.25, arch=0.40, agree=0.50, comp=0.5, hedge=0.25, repair=0.10,
                challenge=0.05),
    "rlhf": dict(phatic=0.20, meta=0.45, lead=0.25, arch=0.35, agree=0.60, comp=0.5, hedge=0.30, repair=0.08,
                 challenge=0.03),
    "reasoning-distilled": dict(phatic=0.02, meta=0.15, lead=0.15, arch=0.70, agree=0.15, comp=0.4, hedge=0.40,
                                repair=0.30, challenge=0.25),
}
"""Each known recipe's propensities; an unknown recipe (or none) gets `OTHER_RECIPE`."""
OTHER_RECIPE = dict(phatic=0.10, meta=0.30, lead=0.25, arch=0.45, agree=0.35, comp=0.5, hedge=0.25, repair=0.10,
                    challenge=0.08)
FAMILY_SPREAD = 0.04
"""A family moves each propensity by at most this much (a fixed offset per family and flag): far less than
the recipes differ, as the follow-up study found (arXiv 2606.20632)."""
PARTNER_HEDGE: dict[str, dict[str, float]] = {"reasoning-distilled": {"rlhf": 0.18}}
"""responder recipe -> partner recipe -> hedging added (absolute) when replying to that partner: the
partner-conditioned shift a sweep's report should recover (about the follow-up study's 18%)."""

PERSONAS: dict[str, dict[str, float]] = {
    "architect": dict(phatic=0.03, meta=0.10, lead=0.15, arch=0.85, agree=0.15, comp=0.5, hedge=0.1),
    "coordinator": dict(phatic=0.03, meta=0.55, lead=0.75, arch=0.25, agree=0.30, comp=0.8, hedge=0.1),
    "supporter": dict(phatic=0.40, meta=0.15, lead=0.05, arch=0.10, agree=0.75, comp=0.3, hedge=0.2),
    "analyst": dict(phatic=0.02, meta=0.10, lead=0.10, arch=0.55, agree=0.10, comp=0.3, hedge=0.5),
    "summarizer": dict(phatic=0.05, meta=0.75, lead=0.20, arch=0.30, agree=0.45, comp=0.5, hedge=0.2),
    "lurker": dict(phatic=0.75, meta=0.05, lead=0.00, arch=0.05, agree=0.35, comp=0.1, hedge=0.1),
    "skeptic": dict(phatic=0.05, meta=0.20, lead=0.10, arch=0.35, agree=0.05, comp=0.4, hedge=0.7),
}
ASSISTANT = dict(phatic=0.08, meta=0.45, lead=0.25, arch=0.45, agree=0.45, comp=0.5, hedge=0.3)
"""The one voice that real names and empty prompts pull every persona toward."""
ROLE_PULL = {"critic": ("skeptic", 0.5), "generator": ("architect", 0.3)}
"""Assigned roles (ChatContext.role): how far each pulls a persona toward a persona of that role's kind."""
COMP_SHARE = 0.15
"""A crashed peer stays crashed, but the study's models seldom picked up its work (COMP in 6-9% of the
human-coded messages of series A, C and E): a persona's `comp` propensity is scaled down by this."""

NEUTRAL_NAME = re.compile(r"^(Agent-[A-Z]+|Alpha|Bravo|Charlie|Delta|Echo|Foxtrot|Golf|Hotel|India|Juliett"
                          r"|Kilo|Lima|Mike|November|Oscar|Papa)$")

TECH = ["Flutter", "React Native", "Node.js", "PostgreSQL", "Redis", "Stripe", "Firebase", "Docker",
        "Kubernetes", "GitHub Actions", "FastAPI", "Kafka", "Sentry", "Mapbox", "AWS", "Supabase"]
TASKS = {
    "en": ["the payment flow", "the delivery tracking screen", "the API contract", "the budget sheet",
           "the test plan", "the restaurant onboarding", "the release checklist", "the data model"],
    "fr": ["le flux de paiement", "l'écran de suivi de livraison", "le contrat d'API", "le budget détaillé",
           "le plan de tests", "l'intégration des restaurants", "la checklist de mise en production",
           "le modèle de données"],
}
TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "phatic": ["Sounds good to me!", "Great, thanks everyone.", "Agreed, let's go!", "Nice work, team.",
                   "Perfect, thanks!", "Ready when you are."],
        "agree": ["I agree with {peer} on this.", "{peer}, good point, I'm with you.",
                  "Building on what {peer} said, that works for me."],
        "meta": ["Let me summarize where we are so far.", "We seem to be converging, so here is a recap.",
                 "Quick status check on the discussion:", "To keep this thread focused, a short recap."],
        "lead": ["{peer}, can you take {task}?", "{peer}, please own {task} by Friday.",
                 "I suggest {peer} handles {task}."],
        "arch": ["For the stack I propose {t1} for the app and {t2} on the backend.",
                 "We could ship with {t1} plus {t2}, and add {t3} for monitoring."],
        "hedge": ["This probably holds, though I am not fully certain.", "It might work, but we should verify it."],
        "repair": ["To clarify my earlier point:", "Correction: I meant the second milestone."],
        "challenge": ["{peer}, I disagree: that plan is too risky.", "I am not convinced by {peer} on this."],
        "comp": {1: "{dead} has not answered since the start.",
                 2: "Since {dead} is down, I'll cover its part on {task}.",
                 3: "{dead} is unavailable, so let's split its tasks: {peer} takes {task}."},
        "body": ["The budget is tight, so we should cut scope to a real MVP.",
                 "Three months is short; two-week sprints keep us honest.",
                 "Risk number one is the delivery logistics, not the code.",
                 "We need a clear definition of done for the first milestone.",
                 "Let's keep infrastructure costs well under the budget.",
                 "User testing in week six would catch the worst problems early."],
    },
    "fr": {
        "phatic": ["Ça me va !", "Merci à tous.", "Parfait, on y va !", "Bon travail l'équipe.",
                   "Top, merci !", "Prêt quand vous l'êtes."],
        "agree": ["Je suis d'accord avec {peer}.", "{peer}, bonne remarque, je te suis.",
                  "Comme le dit {peer}, ça me convient."],
        "meta": ["Je fais le point sur la discussion.", "On converge, voici un récapitulatif.",
                 "Petit point d'étape sur nos échanges :", "Pour garder le fil, un court résumé."],
        "lead": ["{peer}, peux-tu prendre {task} ?", "{peer}, merci de gérer {task} d'ici vendredi.",
                 "Je propose que {peer} s'occupe de {task}."],
        "arch": ["Côté stack je propose {t1} pour l'app et {t2} côté backend.",
                 "On peut livrer avec {t1} et {t2}, puis ajouter {t3} pour le monitoring."],
        "hedge": ["Cela devrait tenir, mais je n'en suis pas certain.", "Ça pourrait marcher, à vérifier."],
        "repair": ["Pour clarifier mon point précédent :", "Je corrige : je voulais dire le deuxième jalon."],
        "challenge": ["{peer}, je ne suis pas d'accord : c'est trop risqué.", "Je doute de la proposition de {peer}."],
        "comp": {1: "{dead} n'a pas répondu depuis le début.",
                 2: "Comme {dead} est hors ligne, je couvre sa partie sur {task}.",
                 3: "{dead} est indisponible, répartissons ses tâches : {peer} prend {task}."},
        "body": ["Le budget est serré, il faut réduire le périmètre à un vrai MVP.",
                 "Trois mois c'est court ; des sprints de deux semaines nous cadrent.",
                 "Le risque principal est la logistique de livraison, pas le code.",
                 "Il faut une définition claire du terminé pour le premier jalon.",
                 "Gardons les coûts d'infrastructure bien sous le budget.",
                 "Des tests utilisateurs en semaine six attraperont les pires problèmes."],
    },
}


@dataclass
class Reading:
    """What the simulated model knows: what its prompt would show under the scaffolding."""

    me: str | None
    peers: list[str]
    dead: list[str]
    lang: str
    isolated: bool
    empty_prompt: bool
    real_names: bool
    no_peer_list: bool


def read(ctx: ChatContext) -> Reading:
    if ctx.scaffolding == "isolated":  # alone with the brief
        return Reading(me=None, peers=[], dead=[], lang=ctx.lang, isolated=True, empty_prompt=False,
                       real_names=False, no_peer_list=True)
    knows_me = ctx.scaffolding in ("full", "no-peers")
    listed = ctx.scaffolding in ("full", "no-identity")
    known = list(ctx.others) if listed else []
    known += [n for n in ctx.spoke if n not in known]
    names = known + ([ctx.me] if knows_me else [])
    return Reading(
        me=ctx.me if knows_me else None,
        peers=[n for n in known if n not in ctx.crashed],
        dead=[n for n in ctx.crashed if n in known],
        lang=ctx.lang,
        isolated=False,
        empty_prompt=ctx.scaffolding == "empty",
        real_names=ctx.naming != "neutral" and any(not NEUTRAL_NAME.match(n) for n in names),
        no_peer_list=not listed,
    )


def tagged_propensities(ctx: ChatContext) -> dict[str, float]:
    """What `sim/tagged` starts from: its recipe's profile, its family's small offset, the partner shift."""
    p = dict(RECIPES.get(ctx.recipe.casefold(), OTHER_RECIPE))
    if ctx.family:
        for f in p:
            offset = (zlib.crc32(f"{ctx.family.casefold()}|{f}".encode()) % 2001 - 1000) / 1000 * FAMILY_SPREAD
            p[f] = min(1.0, max(0.0, p[f] + offset))
    shift = PARTNER_HEDGE.get(ctx.recipe.casefold(), {}).get(ctx.partner_recipe.casefold(), 0.0)
    p["hedge"] = min(1.0, max(0.0, p["hedge"] + shift))
    return p


def propensities(persona: str, reading: Reading, start: dict[str, float] | None = None,
                 role: str = "") -> dict[str, float]:
    base = start or PERSONAS.get(persona)
    if base is None:  # an unknown persona gets a stable profile of its own
        rng = random.Random(zlib.crc32(persona.encode()))
        base = {f: round(rng.uniform(0.05, 0.7), 2) for f in FLAGS}
    pull = 0.0
    if reading.real_names:
        pull = max(pull, 0.45)
    if reading.empty_prompt:
        pull = max(pull, 0.75)
    p = {f: (1 - pull) * base[f] + pull * ASSISTANT.get(f, base[f]) for f in base}
    if role in ROLE_PULL:  # an assigned role pulls the persona toward the role's voice
        persona_of_role, weight = ROLE_PULL[role]
        p = {f: (1 - weight) * p[f] + weight * PERSONAS[persona_of_role].get(f, p[f]) for f in p}
    if reading.no_peer_list:
        p["lead"] *= 0.5
        p["agree"] *= 0.7
    if reading.isolated:
        for f in ("lead", "agree", "comp", "meta"):
            p[f] = 0.0
        p["phatic"] = 0.0
    return p


def reply(persona: str, ctx: ChatContext, seed: int | None, max_words: int = 400) -> str:
    """One message for this persona, deterministic for (persona, context, seed)."""
    reading = read(ctx)
    key = f"{persona}|{seed}|{ctx.round}|{ctx.me}"
    tagged = persona == TAGGED
    if tagged:  # two checkpoints, or one with two partners, do not share their chance
        key += f"|{ctx.family}|{ctx.recipe}|{ctx.partner_family}|{ctx.partner_recipe}"
    rng = random.Random(zlib.crc32(key.encode()))
    p = propensities(persona, reading, tagged_propensities(ctx) if tagged else None, ctx.role)
    words = TEXT[reading.lang]
    peers = reading.peers or ["everyone"]
    if tagged:  # it names only the agent it replies to, so the stored partner is the one it reacted to
        peers = [ctx.partner] if ctx.partner in reading.peers else ["everyone"]

    def pick(kind: str) -> str:
        return rng.choice(words[kind]).format(
            peer=rng.choice(peers), task=rng.choice(TASKS[reading.lang]),
            t1=tech[0], t2=tech[1], t3=tech[2], dead=reading.dead[0] if reading.dead else "")

    tech = rng.sample(TECH, 3)
    if reading.peers and rng.random() < p["phatic"]:
        return pick("phatic")
    parts: list[str] = []
    if reading.peers and rng.random() < p["agree"]:
        parts.append(pick("agree"))
    if rng.random() < p["meta"]:
        parts.append(pick("meta"))
    parts += rng.sample(words["body"], k=rng.randint(1, 3))
    if rng.random() < p["arch"]:
        parts.append(pick("arch"))
    if reading.dead and rng.random() < p["comp"] * COMP_SHARE:
        level = rng.choice((1, 2, 2, 3))
        parts.append(words["comp"][level].format(
            dead=reading.dead[0], peer=rng.choice(peers), task=rng.choice(TASKS[reading.lang])))
    if reading.peers and rng.random() < p["lead"]:
        parts.append(pick("lead"))
    if rng.random() < p["hedge"]:
        parts.append(pick("hedge"))
    if tagged:
        if rng.random() < p["repair"]:
            parts.insert(0, pick("repair"))
        if peers[0] != "everyone" and rng.random() < p["challenge"]:
            parts.append(pick("challenge"))
    text = " ".join(parts)
    return " ".join(text.split()[:max_words])


def judge_reply(persona: str, ctx: JudgeContext, seed: int | None) -> str:
    """A simulated judge. `judge`: valid JSON, pseudo-random but deterministic labels; `judge-malformed`,
    `judge-refuse`: what the names say; `judge-flaky`: malformed on the first try, valid on retries."""
    if persona == "judge-malformed" or (persona == "judge-flaky" and not seed):
        return '{"phatic": true, "meta": '
    if persona == "judge-refuse":
        return "I'm sorry, but I can't help with coding this message."
    answer: dict[str, bool | str | None] = {}
    for f in ctx.flags:
        if f == "phatic":
            answer[f] = len(ctx.text.split()) < 15
        else:
            answer[f] = zlib.crc32(f"{persona}|{f}|{ctx.text}".encode()) % 4 == 0
    answer["comp_level"] = "L1" if answer.get("comp") else None
    return "```json\n" + json.dumps(answer) + "\n```"


def tokens(text: str) -> list[str]:
    """Stream pieces: one a word, with its leading space."""
    out = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(out)]


async def stream(call: ModelCall, pace: float = 0.0) -> AsyncIterator[str]:
    """The reply in word pieces, `pace` pieces a second (0: as fast as the event loop takes them)."""
    persona = call.model.removeprefix(SIM_PREFIX)
    if persona == "judge-slow":
        await asyncio.sleep(3600)  # for timeout tests: cancelled by the caller
    if isinstance(call.context, JudgeContext):
        text = judge_reply(persona, call.context, call.seed)
    elif isinstance(call.context, ChatContext) and call.context.debate is not None:
        text = sim_debate.reply(persona, call.context, call.seed)
    elif isinstance(call.context, ChatContext):
        text = reply(sim_debate.split(persona)[0], call.context, call.seed, max_words=call.max_tokens)
    else:
        raise ProviderError("permanent", "the simulator needs the call's context (who is calling, and why)")
    await asyncio.sleep(0)  # let other streams and the lab go on, even unpaced
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, piece in enumerate(tokens(text), 1):
        if pace > 0:  # against the start time: sleeps that overrun do not add up
            await asyncio.sleep(max(0.0, start + n / pace - loop.time()))
        yield piece
