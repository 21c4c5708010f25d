# frozen_string_literal: true

# LAB SIMULATION (test infrastructure, never shipped): evaluate a gitlab.rb with real Ruby
# through a recording DSL and print, as JSON, what Omnibus would have been told.
#
#   ruby gitlab_rb_recorder.rb /path/to/gitlab.rb
#
# Used by the simulated `gitlab-ctl reconfigure` of the lab (tests/lab/sim/gitlab/omnibus.py),
# which then applies GitLab's rules for the node's version to the recording, and by the unit
# tests of the gitlab.rb renderer (tests/unit/plugins/module_utils/gitaly/).
#
# Omnibus evaluates gitlab.rb as Ruby in which every top-level name (gitaly, gitlab_rails,
# postgresql, ...) is a settings hash, and a few names are methods (git_data_dirs,
# external_url, roles, ...). Here a bare name returns a recording hash; a name called with
# arguments records the call. Output: {"attributes": {name: {key: value}}, "calls": {name:
# [argument, ...]}} with symbols turned into strings by JSON. Constants (File, ENV, ...)
# resolve as in plain Ruby, so `File.read('/run/secrets/x')` works as it does in Omnibus.
# A Ruby error (syntax error, NoMethodError on nil, ...) is printed as "Class: message" on
# stderr with exit status 1.
require 'json'

# One settings object (gitaly, gitlab_rails, ...): string or symbol keys, like Omnibus' Mash.
class RecordedAttribute
  def initialize
    @values = {}
  end

  def [](key)
    @values[key.to_s]
  end

  def []=(key, value)
    @values[key.to_s] = value
  end

  def key?(key)
    @values.key?(key.to_s)
  end

  def to_h
    @values
  end
end

# The evaluation context of gitlab.rb.
class GitlabRbRecorder < BasicObject
  def self.const_missing(name)
    ::Object.const_get(name)
  end

  def initialize
    @attributes = {}
    @calls = {}
  end

  def method_missing(name, *args)
    key = name.to_s
    if args.empty?
      @attributes[key] ||= ::RecordedAttribute.new
    else
      (@calls[key] ||= []) << (args.length == 1 ? args[0] : args)
      nil
    end
  end

  def respond_to_missing?(_name, _include_private = false)
    true
  end

  def __recorded
    { 'attributes' => @attributes.transform_values(&:to_h), 'calls' => @calls }
  end
end

path = ARGV.fetch(0)
recorder = GitlabRbRecorder.new
begin
  recorder.instance_eval(File.read(path), path, 1)
rescue ::ScriptError, ::StandardError => e
  warn "#{e.class}: #{e.message}"
  exit 1
end
puts JSON.generate(recorder.__recorded)
