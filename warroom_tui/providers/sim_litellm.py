"""The simulator as a litellm custom provider: model ids `sim/<persona>`.

litellm is imported inside `make_handler`, called by gateway.load_litellm once litellm is loaded.
"""

from __future__ import annotations

import asyncio

from warroom_tui.providers import simulator


def _chunk(text: str, done: bool = False) -> dict:
    return {"text": text, "is_finished": done, "finish_reason": "stop" if done else "",
            "usage": None, "index": 0, "tool_use": None}


def _reply(model: str, messages: list, optional_params: dict) -> str:
    persona = model.split("/", 1)[-1]
    if simulator.is_judge_prompt(messages):
        return simulator.judge_reply(persona, messages, optional_params.get("seed"))
    max_words = int(optional_params.get("max_tokens") or 400)
    return simulator.reply(persona, messages, optional_params.get("seed"), max_words=max_words)


def make_handler():
    from litellm import CustomLLM

    class SimLLM(CustomLLM):
        async def astreaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                             encoding, api_key, logging_obj, optional_params, acompletion=None,
                             litellm_params=None, logger_fn=None, headers={}, timeout=None, client=None):
            if model.endswith("judge-slow"):
                await asyncio.sleep(3600)  # for timeout tests: cancelled by the caller
            text = _reply(model, messages, optional_params)
            pace = float(((litellm_params or {}).get("metadata") or {}).get("sim_pace") or 0)
            for piece in simulator.tokens(text):
                if pace > 0:
                    await asyncio.sleep(1.0 / pace)
                yield _chunk(piece)
            yield _chunk("", done=True)

        async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response,
                              print_verbose, encoding, api_key, logging_obj, optional_params, acompletion=None,
                              litellm_params=None, logger_fn=None, headers={}, timeout=None, client=None):
            model_response.choices[0].message.content = _reply(model, messages, optional_params)
            model_response.model = model
            return model_response

    return SimLLM()
