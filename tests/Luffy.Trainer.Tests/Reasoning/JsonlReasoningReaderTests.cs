using Luffy.Trainer.Reasoning;

namespace Luffy.Trainer.Tests.Reasoning;

public sealed class JsonlReasoningReaderTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), "luffy-data-" + Guid.NewGuid().ToString("N") + ".jsonl");

    public void Dispose() => File.Delete(path);

    [Fact]
    public void The_reference_layout_is_read_record_by_record()
    {
        File.WriteAllLines(path,
        [
            """{"data_source": "openr1", "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "What is 1+1?"}], "ability": "math", "reward_model": {"style": "rule", "ground_truth": "2"}, "target": [{"role": "assistant", "content": "<think>\n1+1=2</think>\n\\boxed{2}"}]}""",
            "",
            """{"prompt": "Compute 3*4.", "answer": 12}""",
            """{"prompt": [{"role": "user", "content": "Q"}], "ground_truth": "\\frac{1}{2}", "target": "trace"}""",
        ]);
        ReasoningRecord[] records = JsonlReasoningReader.Read(path).ToArray();
        Assert.Equal(3, records.Length);
        Assert.Equal(1, records[0].Line);
        Assert.Equal(["system", "user"], records[0].Prompt.Select(m => m.Role));
        Assert.Equal("2", records[0].GroundTruth);
        Assert.Equal("<think>\n1+1=2</think>\n\\boxed{2}", records[0].Target);
        Assert.Equal("openr1", records[0].DataSource);
        Assert.Equal(3, records[1].Line);
        Assert.Equal("12", records[1].GroundTruth);
        Assert.Null(records[1].Target);
        Assert.Equal("user", records[1].Prompt.Single().Role);
        Assert.Equal("trace", records[2].Target);
    }

    [Theory]
    [InlineData("{\"prompt\": \"Q\", \"answer\": \"1\"", "not valid JSON")]
    [InlineData("""[1, 2]""", "not a JSON object")]
    [InlineData("""{"answer": "1"}""", "no \"prompt\"")]
    [InlineData("""{"prompt": [{"role": "user"}], "answer": "1"}""", "\"prompt\"[0]")]
    [InlineData("""{"prompt": [{"role": "tool", "content": "x"}], "answer": "1"}""", "role \"tool\"")]
    [InlineData("""{"prompt": [{"role": "system", "content": "x"}], "answer": "1"}""", "no user message")]
    [InlineData("""{"prompt": "Q"}""", "no ground truth")]
    [InlineData("""{"prompt": "Q", "answer": ""}""", "empty")]
    [InlineData("""{"prompt": "Q", "answer": "1", "target": [{"role": "user", "content": "x"}]}""", "no assistant message")]
    [InlineData("""{"prompt": "Q", "answer": "1", "target": 5}""", "\"target\" must be")]
    public void A_malformed_record_names_the_file_and_the_line(string record, string problem)
    {
        File.WriteAllLines(path, ["""{"prompt": "fine", "answer": "1"}""", record]);
        var ex = Assert.Throws<DataFormatException>(() => JsonlReasoningReader.Read(path).ToArray());
        Assert.Equal(2, ex.Line);
        Assert.StartsWith($"{path} line 2: ", ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void Records_are_streamed_not_read_all_at_once()
    {
        File.WriteAllLines(path, ["""{"prompt": "fine", "answer": "1"}""", "{ broken"]);
        Assert.Equal("1", JsonlReasoningReader.Read(path).First().GroundTruth); // the broken second line is never parsed
    }

    [Fact]
    public void A_missing_file_is_named() =>
        Assert.Contains("nope.jsonl", Assert.Throws<FileNotFoundException>(() => JsonlReasoningReader.Read("nope.jsonl").ToArray()).Message);

    [Fact]
    public void Invalid_utf8_is_an_error_naming_the_file_and_line()
    {
        byte[] good = System.Text.Encoding.UTF8.GetBytes("""{"prompt": "café", "answer": "1"}""" + "\n");
        byte[] bad = [.. System.Text.Encoding.UTF8.GetBytes("{\"prompt\": \"caf"), 0xC3, 0x28, .. System.Text.Encoding.UTF8.GetBytes("\", \"answer\": \"1\"}\n")];
        File.WriteAllBytes(path, [.. good, .. good, .. bad]);
        var ex = Assert.Throws<DataFormatException>(() => JsonlReasoningReader.Read(path).ToArray());
        Assert.Equal(3, ex.Line);
        Assert.StartsWith($"{path} line 3: invalid UTF-8", ex.Message);
    }

    [Fact]
    public void Utf8_with_a_byte_order_mark_and_crlf_line_ends_is_read()
    {
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. System.Text.Encoding.UTF8.GetBytes("{\"prompt\": \"caf\u00e9 \u2211\", \"answer\": \"1\"}\r\n\r\n{\"prompt\": \"b\", \"answer\": \"2\"}")]);
        ReasoningRecord[] records = JsonlReasoningReader.Read(path).ToArray();
        Assert.Equal("caf\u00e9 \u2211", records[0].Prompt.Single().Content);
        Assert.Equal(["1", "2"], records.Select(r => r.GroundTruth));
        Assert.Equal([1L, 3L], records.Select(r => r.Line));
    }

    [Fact]
    public void A_line_longer_than_the_limit_is_an_error_naming_the_line_without_reading_it_whole()
    {
        string longLine = "{\"prompt\": \"" + new string('x', 5000) + "\", \"answer\": \"1\"}";
        File.WriteAllLines(path, ["""{"prompt": "fine", "answer": "1"}""", longLine, """{"prompt": "fine", "answer": "1"}"""]);
        var ex = Assert.Throws<DataFormatException>(() => JsonlReasoningReader.Read(path, maxLineBytes: 4096).ToArray());
        Assert.Equal(2, ex.Line);
        Assert.Contains("is longer than 4096 bytes, the limit for one record", ex.Message);
        Assert.Equal(3, JsonlReasoningReader.Read(path, maxLineBytes: 8192).Count());
    }

    [Fact]
    public void The_line_limit_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => JsonlReasoningReader.Read(path, maxLineBytes: 0).ToArray());
}
