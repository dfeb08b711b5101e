using System.Text;

namespace Luffy.Trainer.HuggingFace;

/// <summary>
/// The ChatML template of Qwen2 / Qwen2.5 (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per turn,
/// then <c>&lt;|im_start|&gt;assistant\n</c> as the generation prompt), with the <c>&lt;think&gt;</c> convention of
/// the LUFFY reference run: its system prompt asks for reasoning inside <c>&lt;think&gt; … &lt;/think&gt;</c> followed by
/// a <c>\boxed{}</c> answer, and the generation prompt can open the think block so that the model (and every
/// off-policy trace) starts inside it.
/// </summary>
public static class QwenChatTemplate
{
    /// <summary>Start of a turn.</summary>
    public const string ImStart = "<|im_start|>";

    /// <summary>End of a turn; also the end-of-sequence token of generation.</summary>
    public const string ImEnd = "<|im_end|>";

    /// <summary>The system prompt of the LUFFY reference training run.</summary>
    public const string LuffySystemPrompt =
        "Your task is to follow a systematic, thorough reasoning process before providing the final solution. This involves analyzing, summarizing, exploring, reassessing, and refining your thought process through multiple iterations. Structure your response into two sections: Thought and Solution. In the Thought section, present your reasoning using the format: \"<think>\n {thoughts} </think>\n\". Each thought should include detailed analysis, brainstorming, verification, and refinement of ideas. After \"</think>\n,\" in the Solution section, provide the final, logical, and accurate answer, clearly stated in the format: \"\\boxed{answer}\".";

    /// <summary>Qwen2.5's default system prompt when a conversation has none.</summary>
    public const string QwenDefaultSystemPrompt = "You are a helpful assistant.";

    /// <summary>
    /// Renders <paramref name="messages"/>. When the first message is not a system message and
    /// <paramref name="defaultSystemPrompt"/> is not null, a system turn with it is put first.
    /// </summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="addGenerationPrompt">End with <c>&lt;|im_start|&gt;assistant\n</c>.</param>
    /// <param name="openThink">After the generation prompt, also open the think block (<c>&lt;think&gt;\n</c>).</param>
    /// <param name="defaultSystemPrompt">System prompt for conversations without one (null = none).</param>
    public static string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, bool openThink = false, string? defaultSystemPrompt = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new StringBuilder();
        if (defaultSystemPrompt is not null && (messages.Count == 0 || messages[0].Role != "system"))
        {
            Turn(text, "system", defaultSystemPrompt);
        }
        foreach (ChatMessage m in messages)
        {
            if (m.Role is not ("system" or "user" or "assistant"))
            {
                throw new ArgumentException($"message role \"{m.Role}\" is not system, user or assistant.", nameof(messages));
            }
            Turn(text, m.Role, m.Content);
        }
        if (addGenerationPrompt)
        {
            text.Append(ImStart).Append("assistant\n");
            if (openThink)
            {
                text.Append("<think>\n");
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// An off-policy trace as the continuation of a rendered prompt: when the prompt opened the think block, a trace
    /// that starts with it has the opening removed, so the tokens are not doubled.
    /// </summary>
    public static string TraceContinuation(string trace, bool openThink) =>
        openThink && trace.StartsWith("<think>\n", StringComparison.Ordinal) ? trace["<think>\n".Length..]
        : openThink && trace.StartsWith("<think>", StringComparison.Ordinal) ? trace["<think>".Length..].TrimStart('\n')
        : trace;

    private static void Turn(StringBuilder text, string role, string content) =>
        text.Append(ImStart).Append(role).Append('\n').Append(content).Append(ImEnd).Append('\n');
}
