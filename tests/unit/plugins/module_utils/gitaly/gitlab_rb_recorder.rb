# frozen_string_literal: true

# Test helper (not shipped): evaluate a gitlab.rb with real Ruby through a recording DSL and
# print, as JSON, what Omnibus would have been told.
#
#   ruby gitlab_rb_recorder.rb /path/to/gitlab.rb
#
# Omnibus evaluates gitlab.rb as Ruby in which every top-level name (gitaly, gitlab_rails,
# postgresql, ...) is a settings hash, and a few names are methods (git_data_dirs,
# external_url, roles, ...). Here a bare name returns a recording hash; a name called with
# arguments records the call. Output: {"attributes": {name: {key: value}}, "calls": {name:
# [argument, ...]}} with symbols turned into strings by JSON.
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

  def to_h
    @values
  end
end

# The evaluation context of gitlab.rb.
class GitlabRbRecorder < BasicObject
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
recorder.instance_eval(File.read(path), path, 1)
puts JSON.generate(recorder.__recorded)
