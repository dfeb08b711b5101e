using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Luffy.Trainer.HuggingFace;

namespace Luffy.Trainer.Reasoning;

/// <summary>
/// Streams <see cref="ReasoningRecord"/>s from a JSONL file, one JSON object per line, in the layout of the LUFFY
/// training data (verl's): <c>prompt</c> = list of {role, content} (or a string, taken as the user turn);
/// <c>reward_model.ground_truth</c> (or top-level <c>ground_truth</c> / <c>answer</c>); <c>target</c> = list of
/// {role, content} whose assistant turn is the off-policy trace (or a string); optional <c>data_source</c>. Blank
/// lines are skipped; the file must be UTF-8 (invalid bytes are an error naming the line) and no line may exceed
/// <see cref="DefaultMaxLineBytes"/>; a malformed record throws a <see cref="DataFormatException"/> naming the file and line.
/// </summary>
public static class JsonlReasoningReader
{
    /// <summary>The longest line (in bytes, UTF-8) a record may have unless the caller says otherwise: 16 MiB, far above any reasoning trace (a 32k-token trace is about 150 KB).</summary>
    public const int DefaultMaxLineBytes = 16 << 20;

    /// <summary>Reads <paramref name="path"/> lazily, record by record.</summary>
    /// <param name="path">The JSONL file.</param>
    /// <param name="maxLineBytes">The longest line accepted; a longer one is an error naming its line, found without holding the line in memory.</param>
    /// <exception cref="FileNotFoundException">The file does not exist (thrown when enumeration starts).</exception>
    /// <exception cref="DataFormatException">A line is not a valid record, is not valid UTF-8, or is longer than <paramref name="maxLineBytes"/>.</exception>
    public static IEnumerable<ReasoningRecord> Read(string path, int maxLineBytes = DefaultMaxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"data file {path} does not exist.", path);
        }
        using FileStream stream = File.OpenRead(path);
        long line = 0;
        foreach (string text in Lines(stream, path, maxLineBytes))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }
            yield return Parse(text, path, line);
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The lines of <paramref name="stream"/> (\n or \r\n; a leading byte-order mark is skipped), decoded as strict
    /// UTF-8. StreamReader would replace invalid bytes with U+FFFD silently and would hold a line of any length in memory.
    /// </summary>
    private static IEnumerable<string> Lines(Stream stream, string path, int maxLineBytes)
    {
        var buffer = new byte[1 << 16];
        var current = new MemoryStream();
        long line = 1;
        bool first = true;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            if (first)
            {
                first = false;
                if (read >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF)
                {
                    start = 3;
                }
            }
            while (start < read)
            {
                int newline = Array.IndexOf(buffer, (byte)'\n', start, read - start);
                int end = newline < 0 ? read : newline;
                if (current.Length + (end - start) > maxLineBytes)
                {
                    throw new DataFormatException(path, line, $"is longer than {maxLineBytes} bytes, the limit for one record");
                }
                current.Write(buffer, start, end - start);
                if (newline < 0)
                {
                    break;
                }
                yield return Decode(current, path, line++);
                current.SetLength(0);
                start = newline + 1;
            }
        }
        if (current.Length > 0)
        {
            yield return Decode(current, path, line);
        }
    }

    private static string Decode(MemoryStream bytes, string path, long line)
    {
        ReadOnlySpan<byte> span = bytes.GetBuffer().AsSpan(0, (int)bytes.Length);
        if (span.Length > 0 && span[^1] == (byte)'\r')
        {
            span = span[..^1];
        }
        try
        {
            return StrictUtf8.GetString(span);
        }
        catch (DecoderFallbackException ex)
        {
            throw new DataFormatException(path, line, $"invalid UTF-8 (byte 0x{ex.BytesUnknown?.FirstOrDefault():X2} at column {ex.Index + 1})");
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
