"""Which API key a model id needs, without importing litellm (the scenario picker asks for every scenario)."""

from __future__ import annotations

import os

from warroom_tui.modelid import is_simulated

KEY_VARS = {
    "groq": "GROQ_API_KEY", "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY", "mistral": "MISTRAL_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY", "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY",
    "cohere": "COHERE_API_KEY", "fireworks_ai": "FIREWORKS_AI_API_KEY", "perplexity": "PERPLEXITYAI_API_KEY",
}
"""litellm's environment variable for each provider prefix (its documented names)."""
NO_KEY = ("local/", "ollama/", "ollama_chat/")


def key_needed(model: str, api_base: str | None = None) -> str | None:
    """The environment variable this model needs; "" when a key is needed but its name is not known here;
    None when no key is needed (simulated, bundled, a local server)."""
    if is_simulated(model) or model.startswith(NO_KEY) or api_base:
        return None
    provider, sep, _ = model.partition("/")
    return KEY_VARS.get(provider, "") if sep else KEY_VARS["openai"]


def keys_summary(agents: list[tuple[str, str | None]]) -> str:
    """One line: `no key needed`, or each variable and whether it is set in this environment."""
    needed = {key_needed(model, base) for model, base in agents} - {None}
    if not needed:
        return "no API key needed"
    parts = [f"{var} ({'set' if os.environ.get(var) else 'not set'})" for var in sorted(v for v in needed if v)]
    if "" in needed:
        parts.append("a provider key litellm names (see its docs)")
    return "needs " + ", ".join(parts)
