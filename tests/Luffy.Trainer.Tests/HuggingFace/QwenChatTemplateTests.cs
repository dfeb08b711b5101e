using Luffy.Trainer.HuggingFace;

namespace Luffy.Trainer.Tests.HuggingFace;

public class QwenChatTemplateTests
{
    [Fact]
    public void Turns_render_as_chatml_with_the_generation_prompt()
    {
        string text = QwenChatTemplate.Render([new ChatMessage("system", "S"), new ChatMessage("user", "Q")]);
        Assert.Equal("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void A_default_system_prompt_is_added_only_when_the_conversation_has_none()
    {
        Assert.StartsWith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nQ",
            QwenChatTemplate.Render([new ChatMessage("user", "Q")], defaultSystemPrompt: QwenChatTemplate.QwenDefaultSystemPrompt));
        Assert.StartsWith("<|im_start|>system\nmine<|im_end|>\n<|im_start|>user",
            QwenChatTemplate.Render([new ChatMessage("system", "mine"), new ChatMessage("user", "Q")], defaultSystemPrompt: "other"));
        Assert.StartsWith("<|im_start|>user", QwenChatTemplate.Render([new ChatMessage("user", "Q")]));
    }

    [Fact]
    public void The_think_convention_opens_the_block_and_traces_are_not_doubled()
    {
        string text = QwenChatTemplate.Render([new ChatMessage("user", "Q")], openThink: true, defaultSystemPrompt: QwenChatTemplate.LuffySystemPrompt);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n", text);
        Assert.Contains("<think>", QwenChatTemplate.LuffySystemPrompt);
        Assert.Contains("\\boxed{answer}", QwenChatTemplate.LuffySystemPrompt);
        Assert.Equal("reason</think>\n\\boxed{1}", QwenChatTemplate.TraceContinuation("<think>\nreason</think>\n\\boxed{1}", openThink: true));
        Assert.Equal("reason</think>", QwenChatTemplate.TraceContinuation("<think>reason</think>", openThink: true));
        Assert.Equal("<think>\nreason</think>", QwenChatTemplate.TraceContinuation("<think>\nreason</think>", openThink: false));
        Assert.Equal("plain", QwenChatTemplate.TraceContinuation("plain", openThink: true));
        Assert.EndsWith("<|im_start|>assistant\n", QwenChatTemplate.Render([new ChatMessage("user", "Q")]));
        Assert.EndsWith("<|im_end|>\n", QwenChatTemplate.Render([new ChatMessage("user", "Q")], addGenerationPrompt: false));
    }

    [Fact]
    public void An_unknown_role_is_rejected_by_name() =>
        Assert.Contains("\"tool\"", Assert.Throws<ArgumentException>(() => QwenChatTemplate.Render([new ChatMessage("tool", "x")])).Message);
}
