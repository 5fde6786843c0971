"""Configuration: YAML -> validated, frozen model, with located errors."""

from probe_agent.config.document import Config
from probe_agent.config.loader import LoadedConfig, find_config, load_config
from probe_agent.config.schema import Endpoint
from probe_agent.config.yamlsource import ConfigError, Problem

__all__ = ["Config", "ConfigError", "Endpoint", "LoadedConfig", "Problem", "find_config", "load_config"]
