using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Luffy.Trainer.HuggingFace;

namespace Luffy.Trainer.Reasoning;

/// <summary>
/// Streams <see cref="ReasoningRecord"/>s from a JSONL file, one JSON object per line, in the layout of the LUFFY
/// training data (verl's): <c>prompt</c> = list of {role, content} (or a string, taken as the user turn);
/// <c>reward_model.ground_truth</c> (or top-level <c>ground_truth</c> / <c>answer</c>); <c>target</c> = list of
/// {role, content} whose assistant turn is the off-policy trace (or a string); optional <c>data_source</c>. Blank
/// lines are skipped; a malformed record throws a <see cref="DataFormatException"/> naming the file and line.
/// </summary>
public static class JsonlReasoningReader
{
    /// <summary>Reads <paramref name="path"/> lazily, record by record.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist (thrown when enumeration starts).</exception>
    /// <exception cref="DataFormatException">A line is not a valid record.</exception>
    public static IEnumerable<ReasoningRecord> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"data file {path} does not exist.", path);
        }
        using var reader = new StreamReader(path);
        long line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }
            yield return Parse(text, path, line);
        }
    }

    /// <summary>Parses one line; <paramref name="path"/> and <paramref name="line"/> name it in errors.</summary>
    public static ReasoningRecord Parse(string text, string path, long line)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(text) as JsonObject ?? throw new DataFormatException(path, line, "is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new DataFormatException(path, line, $"is not valid JSON ({ex.Message})");
        }
        IReadOnlyList<ChatMessage> prompt = o["prompt"] switch
        {
            null => throw new DataFormatException(path, line, "has no \"prompt\""),
            JsonArray messages => Messages(messages, "prompt", path, line),
            JsonValue v when v.TryGetValue(out string? s) => [new ChatMessage("user", s)],
            var other => throw new DataFormatException(path, line, $"\"prompt\" must be a list of {{role, content}} messages or a string, not {other.ToJsonString()}"),
        };
        if (!prompt.Any(m => m.Role == "user"))
        {
            throw new DataFormatException(path, line, "\"prompt\" has no user message");
        }
        JsonNode? truth = o["reward_model"]?["ground_truth"] ?? o["ground_truth"] ?? o["answer"];
        string groundTruth = truth switch
        {
            null => throw new DataFormatException(path, line, "has no ground truth (reward_model.ground_truth, ground_truth or answer)"),
            JsonValue v when v.TryGetValue(out string? s) => s,
            JsonValue v when v.TryGetValue(out double d) => d.ToString("R", CultureInfo.InvariantCulture),
            var other => throw new DataFormatException(path, line, $"the ground truth must be a string or a number, not {other.ToJsonString()}"),
        };
        if (string.IsNullOrWhiteSpace(groundTruth))
        {
            throw new DataFormatException(path, line, "the ground truth is empty");
        }
        string? target = o["target"] switch
        {
            null => null,
            JsonArray messages => Messages(messages, "target", path, line).FirstOrDefault(m => m.Role == "assistant")?.Content
                ?? throw new DataFormatException(path, line, "\"target\" has no assistant message"),
            JsonValue v when v.TryGetValue(out string? s) => s,
            var other => throw new DataFormatException(path, line, $"\"target\" must be a list of messages or a string, not {other.ToJsonString()}"),
        };
        string? source = o["data_source"] is JsonValue sv && sv.TryGetValue(out string? ds) ? ds : null;
        return new ReasoningRecord(line, prompt, groundTruth, string.IsNullOrEmpty(target) ? null : target, source);
    }

    private static ChatMessage[] Messages(JsonArray array, string field, string path, long line)
    {
        var messages = new ChatMessage[array.Count];
        for (int i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonObject m || m["role"] is not JsonValue role || !role.TryGetValue(out string? r) || m["content"] is not JsonValue content || !content.TryGetValue(out string? c))
            {
                throw new DataFormatException(path, line, $"\"{field}\"[{i}] must be an object with string \"role\" and \"content\", not {array[i]?.ToJsonString() ?? "null"}");
            }
            if (r is not ("system" or "user" or "assistant"))
            {
                throw new DataFormatException(path, line, $"\"{field}\"[{i}] has role \"{r}\"; expected system, user or assistant");
            }
            messages[i] = new ChatMessage(r, c);
        }
        return messages;
    }
}
